"""RFC 9162 hashing and proofs: CT reference vectors, a literal reference, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.ledger import reference

from dicomvault.ledger import merkle
from dicomvault.ledger.merkle import VerificationError

# The 8 leaves used by certificate-transparency and transparency-dev/merkle test suites.
LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]
ROOTS = [bytes.fromhex(h) for h in (
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
)]
H = bytes.fromhex
INCLUSION_0_OF_8 = [H("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                    H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                    H("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4")]
# Audit paths of the same suite: (leaf index, tree size) -> path.
INCLUSION = {
    (0, 1): [],
    (0, 8): INCLUSION_0_OF_8,
    (5, 8): [H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
             H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
             H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")],
    (2, 3): [H("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")],
    (1, 5): [H("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
             H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
             H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")],
}
CONSISTENCY = {
    (1, 1): [],
    (1, 8): INCLUSION_0_OF_8,
    (6, 8): [H("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
             H("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
             H("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7")],
    (2, 5): [H("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
             H("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b")],
}


def all_nodes(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every complete subtree hash, built level by level (what the database stores)."""
    level_hashes = [merkle.leaf_hash(d) for d in leaves]
    nodes = {(0, i): h for i, h in enumerate(level_hashes)}
    level = 0
    while len(level_hashes) > 1:
        level += 1
        level_hashes = [merkle.node_hash(level_hashes[i], level_hashes[i + 1])
                        for i in range(0, len(level_hashes) - 1, 2)]
        nodes.update(((level, i), h) for i, h in enumerate(level_hashes))
    return nodes


def getter(leaves: list[bytes]) -> merkle.NodeGetter:
    nodes = all_nodes(leaves)
    return lambda level, index: nodes[(level, index)]


def flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    as_list = bytearray(data)
    as_list[bit // 8] ^= 1 << (bit % 8)
    return bytes(as_list)


def leaves_of(n: int) -> list[bytes]:
    return [i.to_bytes(4, "big") for i in range(n)]


def test_empty_tree_hash_is_sha256_of_nothing() -> None:
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert merkle.root_hash(getter([]), 0) == merkle.EMPTY_ROOT == reference.mth([])


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_the_reference_vectors(size: int) -> None:
    assert reference.mth(LEAVES[:size]) == ROOTS[size - 1]
    assert merkle.root_hash(getter(LEAVES), size) == ROOTS[size - 1]
    assert merkle.root_from_leaf_hashes(merkle.leaf_hash(d) for d in LEAVES[:size]) == (
        size, ROOTS[size - 1])


@pytest.mark.parametrize(("index", "size"), sorted(INCLUSION))
def test_inclusion_vectors(index: int, size: int) -> None:
    proof = merkle.inclusion_proof(getter(LEAVES), index, size)
    assert proof == INCLUSION[(index, size)] == reference.path(index, LEAVES[:size])
    merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAVES[index]), proof, ROOTS[size - 1])


def test_inclusion_vector_and_verification() -> None:
    proof = merkle.inclusion_proof(getter(LEAVES), 0, 8)
    assert proof == INCLUSION_0_OF_8 == reference.path(0, LEAVES)
    merkle.verify_inclusion(0, 8, merkle.leaf_hash(LEAVES[0]), proof, ROOTS[7])


@pytest.mark.parametrize(("old", "new"), sorted(CONSISTENCY))
def test_consistency_vectors(old: int, new: int) -> None:
    proof = merkle.consistency_proof(getter(LEAVES), old, new)
    assert proof == CONSISTENCY[(old, new)] == reference.proof(old, LEAVES[:new])
    merkle.verify_consistency(old, new, ROOTS[old - 1], ROOTS[new - 1], proof)


def test_vector_proof_against_the_wrong_root_fails() -> None:
    with pytest.raises(VerificationError):
        merkle.verify_consistency(6, 8, ROOTS[4], ROOTS[7], CONSISTENCY[(6, 8)])


def test_every_proof_up_to_40_leaves_equals_the_literal_rfc_definition() -> None:
    leaves = leaves_of(40)
    get = getter(leaves)
    for size in range(1, 41):
        assert merkle.root_hash(get, size) == reference.mth(leaves[:size])
        for index in range(size):
            assert merkle.inclusion_proof(get, index, size) == reference.path(index, leaves[:size])
        for old in range(1, size + 1):
            assert merkle.consistency_proof(get, old, size) == reference.proof(old, leaves[:size])


def test_range_nodes_refuses_unaligned_ranges() -> None:
    assert merkle.range_nodes(8, 13) == [(2, 2), (0, 12)]
    with pytest.raises(ValueError, match="aligned"):
        merkle.range_nodes(3, 7)


sizes = st.integers(min_value=1, max_value=300)


@settings(max_examples=60, deadline=None)
@given(size=sizes, data=st.data())
def test_every_inclusion_proof_verifies_and_any_flipped_bit_breaks_it(
    size: int, data: st.DataObject
) -> None:
    leaves = leaves_of(size)
    get = getter(leaves)
    index = data.draw(st.integers(0, size - 1))
    root = merkle.root_hash(get, size)
    leaf = merkle.leaf_hash(leaves[index])
    proof = merkle.inclusion_proof(get, index, size)
    merkle.verify_inclusion(index, size, leaf, proof, root)

    bit = data.draw(st.integers(0, 255))
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(index, size, flip(leaf, bit), proof, root)
    with pytest.raises(VerificationError):
        merkle.verify_inclusion(index, size, leaf, proof, flip(root, bit))
    with pytest.raises(VerificationError):  # leaf data changed, not just its hash
        merkle.verify_inclusion(index, size, merkle.leaf_hash(flip(leaves[index], bit)),
                                proof, root)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        broken = [*proof[:position], flip(proof[position], bit), *proof[position + 1:]]
        with pytest.raises(VerificationError):
            merkle.verify_inclusion(index, size, leaf, broken, root)
        with pytest.raises(VerificationError):  # truncated path
            merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
    if size > 1:
        with pytest.raises(VerificationError):  # right leaf, wrong position
            merkle.verify_inclusion((index + 1) % size, size, leaf, proof, root)


@settings(max_examples=60, deadline=None)
@given(new=sizes, data=st.data())
def test_every_consistency_proof_verifies_and_any_flipped_bit_breaks_it(
    new: int, data: st.DataObject
) -> None:
    old = data.draw(st.integers(1, new))
    leaves = leaves_of(new)
    get = getter(leaves)
    old_root, new_root = merkle.root_hash(get, old), merkle.root_hash(get, new)
    proof = merkle.consistency_proof(get, old, new)
    merkle.verify_consistency(old, new, old_root, new_root, proof)

    bit = data.draw(st.integers(0, 255))
    with pytest.raises(VerificationError):
        merkle.verify_consistency(old, new, flip(old_root, bit), new_root, proof)
    with pytest.raises(VerificationError):
        merkle.verify_consistency(old, new, old_root, flip(new_root, bit), proof)
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        broken = [*proof[:position], flip(proof[position], bit), *proof[position + 1:]]
        with pytest.raises(VerificationError):
            merkle.verify_consistency(old, new, old_root, new_root, broken)
    # A tree whose old part was rewritten is not consistent with the old root.
    forged = [*leaves[: old - 1], b"forged", *leaves[old:]]
    forged_root = merkle.root_hash(getter(forged), new)
    with pytest.raises(VerificationError):
        merkle.verify_consistency(old, new, old_root, forged_root,
                                  merkle.consistency_proof(getter(forged), old, new))


def test_rollback_and_malformed_inputs_fail_verification() -> None:
    root = ROOTS[3]
    with pytest.raises(VerificationError, match="rollback"):
        merkle.verify_consistency(5, 4, ROOTS[4], root, [])
    with pytest.raises(VerificationError, match="fork"):
        merkle.verify_consistency(4, 4, ROOTS[3], ROOTS[4], [])
    with pytest.raises(VerificationError, match="32"):
        merkle.verify_inclusion(0, 4, b"short", [], root)
    with pytest.raises(VerificationError, match="outside"):
        merkle.verify_inclusion(4, 4, ROOTS[0], [], root)
    with pytest.raises(VerificationError, match="empty"):
        merkle.verify_consistency(3, 4, ROOTS[2], root, [])
