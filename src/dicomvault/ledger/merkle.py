"""Merkle Tree Hashes and proofs of RFC 9162 (Certificate Transparency v2), section 2.1.

Pure functions, no storage: the log stores the hash of every *complete*
subtree (a node at ``level`` L and ``index`` i covers the leaves
``[i * 2**L, (i + 1) * 2**L)``; level 0 are the leaf hashes) and hands a
:data:`NodeGetter` to the functions here.

Every range that the RFC's recursive definitions of MTH, PATH and PROOF visit
is *aligned*: it starts at a multiple of the smallest power of two that is at
least its length. The Merkle Tree Hash of such a range is the right fold of
the complete subtrees of its length's binary decomposition (the "compact
range"), so it costs at most ``log2(n)`` stored nodes and no rehashing of
leaves. Proof generation is split into *which ranges* (:func:`inclusion_ranges`,
:func:`consistency_ranges`, pure arithmetic) and *their hashes*
(:func:`range_nodes` lists the stored nodes to fetch, :func:`range_hash` folds
them), so a database can fetch all nodes of a proof in one query.

This module must stay free of any dependency beyond the standard library: the
standalone verifier (:mod:`dicomvault.ledger.verify`) imports it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

#: A node coordinate: (level, index); level 0 are leaves.
Node = tuple[int, int]
#: Returns the stored hash of the complete subtree at (level, index).
NodeGetter = Callable[[int, int], bytes]

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
#: MTH({}) = SHA-256() (RFC 9162 2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()


class VerificationError(Exception):
    """A proof, a root, a signature or a log failed to verify.

    Defined here (not in ``dicomvault.errors``) because the standalone verifier
    may depend on nothing but the standard library and ``cryptography``; the
    server side translates it into :class:`dicomvault.errors.IntegrityError`.
    """


def leaf_hash(data: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0) (RFC 9162 2.1.1)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 9162 2.1.1)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """k of RFC 9162 2.1.1: the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def range_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees whose right fold is MTH(D[start:end]), left to right.

    ``[start, end)`` must be aligned (see the module docstring); every range
    returned by :func:`inclusion_ranges` and :func:`consistency_ranges` is.
    """
    size = end - start
    if size <= 0:
        raise ValueError(f"empty or negative range [{start}, {end})")
    if start % (1 << (size - 1).bit_length()):
        raise ValueError(f"range [{start}, {end}) is not aligned")
    nodes: list[Node] = []
    offset = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, offset >> level))
            offset += 1 << level
    return nodes


def fold_right(hashes: Sequence[bytes]) -> bytes:
    """Right fold of subtree hashes: H(h0, H(h1, ... H(h[-2], h[-1])))."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def range_hash(get: NodeGetter, start: int, end: int) -> bytes:
    """MTH(D[start:end]) of an aligned range from O(log n) stored nodes."""
    return fold_right([get(level, index) for level, index in range_nodes(start, end)])


def root_hash(get: NodeGetter, size: int) -> bytes:
    """MTH(D[0:size]) (RFC 9162 2.1.1), the empty tree's hash for size 0."""
    return EMPTY_ROOT if size == 0 else range_hash(get, 0, size)


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PATH(index, D[0:size]), leaf-side first (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose hashes form PROOF(old, D[0:new]), in proof order (RFC 9162 2.1.4.1)."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, m, complete_subtree = 0, new_size, old_size, True
    while m != end - start:
        k = _largest_power_of_two_below(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete_subtree = start + k, m - k, False
    if not complete_subtree:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def proof_nodes(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every stored node needed to hash ``ranges`` (for fetching them in one go)."""
    return {node for start, end in ranges for node in range_nodes(start, end)}


def inclusion_proof(get: NodeGetter, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 2.1.3.1)."""
    return [range_hash(get, start, end) for start, end in inclusion_ranges(index, size)]


def consistency_proof(get: NodeGetter, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof between two tree sizes (RFC 9162 2.1.4.1)."""
    return [
        range_hash(get, start, end) for start, end in consistency_ranges(old_size, new_size)
    ]


def root_from_leaf_hashes(leaf_hashes: Iterable[bytes]) -> tuple[int, bytes]:
    """(size, MTH) of a whole log, streaming, in O(log n) memory.

    Keeps the compact range: a stack of complete subtree hashes whose sizes
    strictly decrease, merging equal neighbours as each leaf arrives.
    """
    stack: list[tuple[int, bytes]] = []
    size = 0
    for hashed in leaf_hashes:
        level, current = 0, hashed
        while stack and stack[-1][0] == level:
            current = node_hash(stack.pop()[1], current)
            level += 1
        stack.append((level, current))
        size += 1
    return size, fold_right([h for _, h in stack])


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root implied by an audit path (RFC 9162 2.1.3.2 steps 1-4)."""
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} outside a tree of size {size}")
    _check_hash(leaf, "leaf hash")
    fn, sn, result = index, size - 1, leaf
    for sibling in proof:
        _check_hash(sibling, "proof hash")
        if sn == 0:
            raise VerificationError("inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("inclusion proof is shorter than the tree is deep")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`VerificationError` unless ``leaf`` is at ``index`` under ``root``."""
    _check_hash(root, "root hash")
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise VerificationError(f"inclusion proof of leaf {index} does not match the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise :class:`VerificationError` unless the old tree is a prefix of the new one.

    RFC 9162 2.1.4.2, plus the two trivial cases it leaves to the caller: an
    empty old tree is a prefix of anything, and equal sizes need equal roots
    and an empty proof.
    """
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    for item in proof:
        _check_hash(item, "proof hash")
    if not 0 <= old_size <= new_size:
        raise VerificationError(
            f"tree shrank from {old_size} to {new_size} leaves (rollback or fork)"
        )
    if old_size == 0:
        if old_root != EMPTY_ROOT or proof:
            raise VerificationError("an empty tree has the empty root and an empty proof")
        return
    if old_size == new_size:
        if proof:
            raise VerificationError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise VerificationError(f"two different roots for tree size {old_size} (fork)")
        return
    path = list(proof)
    if not path:
        raise VerificationError("consistency proof is empty")
    if old_size & (old_size - 1) == 0:  # step 2: an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for item in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(item, fr)
            sr = node_hash(item, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, item)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise VerificationError("consistency proof is too short")
    if fr != old_root:
        raise VerificationError(f"old root of size {old_size} is not a prefix of the new tree")
    if sr != new_root:
        raise VerificationError(
            f"consistency proof does not lead to the new root of size {new_size}"
        )
