"""
Pairs module: all pairs of hashes within a Hamming distance, without comparing all pairs (multi-index hashing by the
pigeonhole principle), and the connected components they link.
"""

import os

from concurrent.futures import ProcessPoolExecutor
from itertools import combinations
from multiprocessing import get_all_start_methods, get_context

import numpy as np

from ..ann import layout, pigeonhole, radii
from ..hashing.codec import words

# Largest key packed next to a 32-bit row number in one uint64 sort key
KEYBITS = 32

# Hashes from which pairs() shares its tables between worker processes
PARALLEL = 200000


def popcount(codes, a, b):
    """
    Hamming distances between rows a and rows b of codes.

    Args:
        codes: uint64 array (n, words)
        a: row numbers
        b: row numbers

    Returns:
        int array of distances
    """

    return np.bitwise_count(codes[a] ^ codes[b]).sum(axis=1, dtype=np.int64)


def pairs(codes, threshold, nbits=64, radius=None, workers=None, among=None):
    """
    Finds all pairs of rows within threshold bits of each other, without comparing all pairs: multi-index
    hashing by the pigeonhole principle (see txtai_imagehash.ann.pigeonhole()), one sort per table, candidates
    verified by popcount. Codes longer than 64 bits are searched word by word: two codes within threshold bits are
    within (threshold - x) // words bits on some word x (txtai_imagehash.ann.radii(); a word with fewer bits gets a
    smaller radius, the others make up for it), so each word is searched at its radius and candidates are verified
    on all bits. Tables are independent: from PARALLEL hashes on they are shared by worker processes, one per CPU
    unless workers says otherwise.

    Args:
        codes: uint64 array (n, words) from txtai_imagehash.hashing.codec.words()
        threshold: maximum distance in bits, from 0 to nbits - 1
        nbits: bits per hash
        radius: search radius per word, defaults to the exact radii(); a smaller radius finds every pair
                within radius * words bits and only some of those further apart, at a fraction of the cost
        workers: worker processes for the tables, None for one per CPU (from PARALLEL hashes on), 1 for none
        among: optional boolean array (n,): only pairs with at least one row marked are found, e.g. the hashes of the
               images themselves against their flips and cuts, which need not be paired among themselves. Each table
               then looks every row's key up among the marked rows' keys instead of pairing all rows

    Returns:
        (a, b, distance) int arrays with a < b, each pair once
    """

    count, words = codes.shape
    if count >= 2**32:
        raise ValueError("pairs: at most 2^32 - 1 hashes")
    if not 0 <= threshold < nbits:
        raise ValueError(f"pairs: threshold {threshold} must be from 0 to {nbits - 1} for {nbits}-bit hashes")

    # Bits of each word: 64, the last one holds the rest (right aligned)
    sizes = [min(64, nbits - 64 * word) if nbits > 64 * word else 64 for word in range(words)]
    if radius is None:
        search = radii(words, threshold, sizes)
    else:
        search = [min(radius, threshold // words, bits - 1) for bits in sizes]

    # Tables of every word: the blocks (word, shift, width) of one key
    tables = []
    for word, (bits, radius) in enumerate(zip(sizes, search)):
        blocks = [(word, shift, width) for _, shift, width in layout(bits, pigeonhole(count, radius, bits, KEYBITS))]
        tables.extend([blocks[x] for x in table] for table in combinations(range(len(blocks)), len(blocks) - radius))

    workers = workers if workers else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    workers = min(workers, len(tables)) if count >= PARALLEL else 1
    if workers > 1:
        # Forked workers share the codes without copying them; tables are handed out a few at a time
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=get_context(method), initializer=initialize, initargs=(codes, threshold, among)) as executor:
            found = list(executor.map(shared, tables, chunksize=max(1, len(tables) // (4 * workers))))
    else:
        found = [match(codes, table, threshold, among) for table in tables]

    # Each pair once
    found = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.uint64)
    a, b = (found >> np.uint64(32)).astype(np.int64), (found & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return a, b, popcount(codes, a, b)


# Codes and threshold of a worker process (see initialize())
WORKER = {}


def initialize(codes, threshold, among=None):
    """
    Keeps the arguments of a worker process's tables (a pool initializer).
    """

    WORKER.update(codes=codes, threshold=threshold, among=among)


def shared(table):
    """
    Verified pairs of one table in a worker process.
    """

    return match(WORKER["codes"], table, WORKER["threshold"], WORKER["among"])


def match(codes, table, threshold, among=None):
    """
    Verified pairs of one table: rows sorted by the table's key (its blocks side by side), rows with equal keys
    verified.

    Args:
        codes: uint64 array (n, words)
        table: blocks of the key, each (word, shift, width) as txtai_imagehash.ann.layout() gives them
        threshold: maximum distance
        among: optional boolean array (n,), see pairs()

    Returns:
        uint64 array of a << 32 | b for verified pairs, a < b
    """

    # Pack the table's blocks into a key of up to KEYBITS bits: fewer key bits only add candidates
    key, width = np.zeros(codes.shape[0], dtype=np.uint64), 0
    for word, shift, size in table:
        size = min(size, KEYBITS - width)
        if size <= 0:
            break
        key = (key << np.uint64(size)) | ((codes[:, word] >> np.uint64(shift)) & np.uint64((1 << size) - 1))
        width += size

    if among is not None:
        return lookup(key, among, codes, threshold)

    return candidates(np.sort((key << np.uint64(32)) | np.arange(codes.shape[0], dtype=np.uint64)), codes, threshold)


def lookup(keys, among, codes, threshold):
    """
    Verifies candidate pairs of one table between every row and the marked rows: each row's key is looked up among the
    marked rows' sorted keys, rows with equal keys verified. Two marked rows are verified once (the smaller first).

    Args:
        keys: uint64 array (n,) of the table's keys
        among: boolean array (n,) of marked rows
        codes: uint64 array (n, words)
        threshold: maximum distance

    Returns:
        uint64 array of a << 32 | b for verified pairs, a < b
    """

    marked = np.flatnonzero(among)
    marked = marked[np.argsort(keys[marked], kind="stable")]
    ordered = keys[marked]

    low, high = np.searchsorted(ordered, keys, side="left"), np.searchsorted(ordered, keys, side="right")
    counts = high - low
    a = np.repeat(np.arange(len(keys), dtype=np.int64), counts)
    b = marked[np.repeat(low - (np.cumsum(counts) - counts), counts) + np.arange(len(a), dtype=np.int64)]

    keep = (a != b) & (~among[a] | (a < b))
    a, b = a[keep], b[keep]
    close = np.bitwise_count(codes[a] ^ codes[b]).sum(axis=1, dtype=np.int64) <= threshold
    a, b = a[close], b[close]
    return pack(a, b)


def candidates(ordered, codes, threshold):
    """
    Verifies candidate pairs: rows whose keys are equal in one table, i.e. equal high 32 bits in a sorted array.
    Only rows in runs of equal keys can pair: their codes are gathered once, in key order, and compared offset by
    offset through the runs.

    Args:
        ordered: sorted uint64 array of key << 32 | row
        codes: uint64 array (n, words)
        threshold: maximum distance

    Returns:
        uint64 array of a << 32 | b for verified pairs, a < b
    """

    keys = ordered >> np.uint64(32)
    same = keys[1:] == keys[:-1]
    members = np.zeros(len(keys), dtype=bool)
    members[:-1] |= same
    members[1:] |= same

    ordered = ordered[members]
    keys, rows = keys[members], (ordered & np.uint64(0xFFFFFFFF)).astype(np.int64)
    values, output = codes[rows], []

    # A position only stays active while its key still matches the key offset positions later
    active, offset = np.flatnonzero(keys[1:] == keys[:-1]), 1
    while active.size:
        close = active[np.bitwise_count(values[active] ^ values[active + offset]).sum(axis=1, dtype=np.int64) <= threshold]
        a, b = rows[close], rows[close + offset]
        output.append(pack(a, b))

        active = active[active + offset + 1 < len(keys)]
        active = active[keys[active + offset + 1] == keys[active]]
        offset += 1

    return np.concatenate(output) if output else np.empty(0, dtype=np.uint64)


def pack(a, b):
    """
    Packs pairs of row numbers as one sort key each, the smaller row first.

    Args:
        a: int array of rows
        b: int array of rows

    Returns:
        uint64 array of min(a, b) << 32 | max(a, b)
    """

    return (np.minimum(a, b).astype(np.uint64) << np.uint64(32)) | np.maximum(a, b).astype(np.uint64)


def locate(codes, found):
    """
    Rows of codes of the hash pairs found by a finder (an index in PostgreSQL finds its pairs in the database, see
    txtai_imagehash.postgres.pairs). Pairs with a hash that is not among codes (rows dedup does not read) are dropped.

    Args:
        codes: uint64 array (n, words) of distinct hashes
        found: list of (hex hash, hex hash, distance)

    Returns:
        (a, b) int arrays of row numbers
    """

    rows = {code.tobytes(): x for x, code in enumerate(codes)}
    a, b = [], []
    if found:
        left, _ = words([x for x, _, _ in found])
        right, _ = words([y for _, y, _ in found])
        for x, y in zip(left, right):
            x, y = rows.get(x.tobytes()), rows.get(y.tobytes())
            if x is not None and y is not None:
                a.append(x)
                b.append(y)

    return np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)


def components(codes, threshold, nbits=64):
    """
    Labels connected components of the near-duplicate graph. Identical hashes are merged first (so large
    groups of exact copies cost nothing), then pairs() links the distinct hashes, and a vectorized union-find
    (min-label propagation with pointer jumping) joins them.

    Args:
        codes: uint64 array (n, words)
        threshold: maximum distance in bits
        nbits: bits per hash

    Returns:
        int array of component labels, one per row
    """

    unique, inverse = np.unique(codes, axis=0, return_inverse=True) if codes.shape[1] > 1 else np.unique(codes[:, 0], return_inverse=True)
    unique = unique.reshape(len(unique), -1)

    labels = np.arange(len(unique))
    if threshold > 0 and len(unique) > 1:
        a, b, _ = pairs(unique, threshold, nbits)
        labels = union(labels, a, b)

    return labels[inverse.reshape(-1)]


def union(labels, a, b):
    """
    Vectorized union-find: every node ends up labeled with the smallest node of its component.

    Args:
        labels: initial labels (arange)
        a: edge sources
        b: edge targets

    Returns:
        component labels
    """

    labels = labels.copy()
    while a.size:
        # Hook: both ends of every edge take the smaller root
        low = np.minimum(labels[a], labels[b])
        np.minimum.at(labels, labels[a], low)
        np.minimum.at(labels, labels[b], low)

        # Pointer jumping until every node points at a root
        while True:
            jumped = labels[labels]
            if (jumped == labels).all():
                break
            labels = jumped

        # Edges already inside one component are done
        keep = labels[a] != labels[b]
        a, b = a[keep], b[keep]

    return labels
