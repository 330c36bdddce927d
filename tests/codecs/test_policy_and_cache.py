"""The storage policy read from the settings, and the bounded retrieve cache."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dicomvault.codecs import ByteCache, StoragePolicy
from dicomvault.codecs.syntaxes import HTJ2K_LOSSLESS, JPEG_2000_LOSSLESS, JPEG_LS_LOSSLESS
from dicomvault.config import CompressionTime, load_settings
from dicomvault.errors import ConfigurationError

CT = "1.2.840.10008.5.1.4.1.1.2"
MG = "1.2.840.10008.5.1.4.1.1.1.2"


def _policy(tmp_path: Path, **settings: object) -> StoragePolicy:
    return StoragePolicy.from_settings(load_settings(data_dir=tmp_path, **settings))


def test_the_default_policy_is_jpeg_ls_in_the_background_and_htj2k_for_colour(
        tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    ct = policy.decide("CT", CT)
    assert (ct.target, ct.when) == (JPEG_LS_LOSSLESS, CompressionTime.BACKGROUND)
    assert policy.decide("us", "1.2.840.10008.5.1.4.1.1.6.1").target == HTJ2K_LOSSLESS
    assert policy.uses_background


def test_first_matching_rule_wins_by_sop_class_and_modality(tmp_path: Path) -> None:
    policy = _policy(tmp_path, storage_compression_rules=[
        {"sop_class": MG, "syntax": "keep"},
        {"modality": "MG", "syntax": "jpeg2000-lossless", "when": "ingest"},
        {"modality": "CT", "sop_class": CT, "syntax": "1.2.840.10008.1.2.4.201"},
    ])
    assert policy.decide("MG", MG).target is None
    other_mg = policy.decide("MG", "1.2.840.10008.5.1.4.1.1.1.2.1")
    assert other_mg.target == JPEG_2000_LOSSLESS and other_mg.compresses_on_ingest
    assert policy.decide("CT", CT).target == HTJ2K_LOSSLESS
    assert policy.decide("CT", "1.2.3").target == JPEG_LS_LOSSLESS


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.4.50", "htj2k", "jpeg-xl", "deflated"])
def test_a_target_we_cannot_write_losslessly_is_a_configuration_error(
        tmp_path: Path, syntax: str) -> None:
    with pytest.raises(ConfigurationError, match="storage_compression"):
        _policy(tmp_path, storage_compression=syntax)


def test_keep_everything_leaves_nothing_to_the_background(tmp_path: Path) -> None:
    policy = _policy(tmp_path, storage_compression="keep", storage_compression_rules=[])
    assert policy.decide("CT", CT).target is None
    assert not policy.uses_background


def test_a_rule_must_say_what_it_matches(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="modality or a sop_class"):
        load_settings(data_dir=tmp_path, storage_compression_rules=[{"syntax": "keep"}])


def test_the_cache_evicts_the_least_recently_used_by_bytes() -> None:
    cache = ByteCache(10)
    cache.put("a", b"1234")
    cache.put("b", b"5678")
    assert cache.get("a") == b"1234"  # a is now the most recent
    cache.put("c", b"90")
    cache.put("d", b"xy")  # 12 bytes would not fit: b goes first
    assert cache.get("b") is None
    assert cache.get("a") == b"1234"
    assert cache.size_bytes == 8 and len(cache) == 3
    cache.put("huge", b"x" * 11)  # larger than the whole cache: not kept
    assert cache.get("huge") is None


def test_get_or_make_makes_once_and_is_safe_across_threads() -> None:
    cache = ByteCache(1024)
    made: list[int] = []

    def make() -> bytes:
        made.append(1)
        return b"value"

    assert cache.get_or_make("k", make) == b"value"
    threads = [threading.Thread(target=lambda: cache.get_or_make("k", make)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert made == [1]
    assert cache.hits == 8


def test_a_zero_sized_cache_keeps_nothing() -> None:
    cache = ByteCache(0)
    cache.put("a", b"x")
    assert cache.get("a") is None
