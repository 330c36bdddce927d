"""Private attributes: removed everywhere, except safe ones under Retain Safe Private."""

from __future__ import annotations

from tests.deid.corpus import KEY_A, SAFE_PRIVATE_TSV, real_dataset, walk, with_private_blocks

from dicomvault.deid import Deidentifier, DeidOption, DeidProfile, part10_bytes


def _private(dataset):  # type: ignore[no-untyped-def]
    return [(path, element) for path, element in walk(dataset) if element.tag.is_private]


def test_generated_file_has_private_blocks_at_several_depths() -> None:
    ds = with_private_blocks()
    depths = {path.count("[") for path, _ in _private(ds)}
    assert depths == {0, 1, 2}
    assert len(_private(ds)) >= 14


def test_every_private_attribute_is_removed_at_every_depth() -> None:
    ds = with_private_blocks()
    outcome = Deidentifier(KEY_A, DeidProfile()).deidentify(ds)
    assert outcome.dataset is not None
    assert _private(outcome.dataset) == []
    data = part10_bytes(outcome.dataset)
    for secret in (b"1234567-MRN", b"NESTED-SECRET-ID", b"deep secret note", b"ACME", b"DOE^JOHN"):
        assert secret not in data
    removed = [c for c in outcome.report if c.became.startswith("removed (private)")]
    assert any(c.path for c in removed)  # nested ones are reported with where they were


def test_real_files_with_private_sequences_lose_them() -> None:
    for name in ("CT_small.dcm", "JPEG2000.dcm", "priv_SQ.dcm", "nested_priv_SQ.dcm"):
        ds = real_dataset(name)
        assert _private(ds), name
        out = Deidentifier(KEY_A, DeidProfile(allow_burned_in=True)).deidentify(ds).dataset
        assert out is not None and _private(out) == [], name


def test_retain_safe_private_keeps_only_listed_attributes_with_their_creators() -> None:
    ds = with_private_blocks()
    profile = DeidProfile(frozenset({DeidOption.RETAIN_SAFE_PRIVATE}))
    outcome = Deidentifier(KEY_A, profile).deidentify(ds)
    assert outcome.dataset is not None
    kept = {int(e.tag): e.value for _, e in _private(outcome.dataset)}
    assert kept == {
        0x00190011: "SIEMENS MR HEADER", 0x0019110C: "1000",
        0x0019110E: [0.0, 0.70710678, 0.70710678],
        0x20010010: "Philips Imaging DD 001", 0x20011003: 800.0,
    }
    assert "SIEMENS MR HEADER" in SAFE_PRIVATE_TSV.read_text()
    codes = [item.CodeValue for item in outcome.dataset.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113111"]


def test_safe_element_offset_under_another_creator_is_not_kept() -> None:
    ds = real_dataset("CT_small.dcm")
    ds.add_new(0x00190010, "LO", "SOMEONE ELSE")
    ds.add_new(0x0019100C, "IS", "1000")  # same offset as the Siemens b value, other creator
    profile = DeidProfile(frozenset({DeidOption.RETAIN_SAFE_PRIVATE}))
    out = Deidentifier(KEY_A, profile).deidentify(ds).dataset
    assert out is not None and _private(out) == []
