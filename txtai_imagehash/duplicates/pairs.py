"""
Pairs module: all pairs of hashes within a Hamming distance, without comparing all pairs (multi-index hashing by the
pigeonhole principle), and the connected components they link.
"""

from itertools import combinations

import numpy as np

from ..ann import pigeonhole
from ..hashing.codec import words

# Largest key packed next to a 32-bit row number in one uint64 sort key
KEYBITS = 32


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


def pairs(codes, threshold, nbits=64, radius=None):
    """
    Finds all pairs of rows within threshold bits of each other, without comparing all pairs: multi-index
    hashing by the pigeonhole principle (see txtai_imagehash.ann.pigeonhole()), one sort per table, candidates verified by popcount.
    Codes longer than 64 bits are searched word by word: two codes within threshold bits are within
    threshold // words bits on one of their 64-bit words, so each word is searched at that radius and candidates
    are verified on all bits (see radii(): a word with fewer bits gets a smaller radius, the others make up for it).

    Args:
        codes: uint64 array (n, words) from txtai_imagehash.hashing.codec.words()
        threshold: maximum distance in bits, from 0 to nbits - 1
        nbits: bits per hash
        radius: search radius per word, defaults to threshold // words (exact); a smaller radius finds every pair
                within radius * words bits and only some of those further apart, at a fraction of the cost

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
        search = radii(threshold, sizes)
    else:
        search = [min(radius, threshold // words, bits - 1) for bits in sizes]
    rows = np.arange(count, dtype=np.uint64)

    found = []
    for word, (bits, radius) in enumerate(zip(sizes, search)):
        layout = pigeonhole(count, radius, bits, KEYBITS)

        # Block boundaries over the key bits of the word, counted from the least significant bit
        bounds = np.linspace(0, bits, layout + 1).round().astype(int)
        values = codes[:, word]

        for table in combinations(range(layout), layout - radius):
            # Pack the table's blocks into a key of up to KEYBITS bits: fewer key bits only add candidates
            key, width = np.zeros(count, dtype=np.uint64), 0
            for block in table:
                start, size = int(bounds[block]), int(min(bounds[block + 1] - bounds[block], KEYBITS - width))
                if size <= 0:
                    break
                key = (key << np.uint64(size)) | ((values >> np.uint64(start)) & np.uint64((1 << size) - 1))
                width += size

            found.append(candidates(np.sort((key << np.uint64(32)) | rows), codes, threshold))

    # Each pair once
    found = np.concatenate(found) if found else np.empty(0, dtype=np.uint64)
    found = np.unique(found)
    a, b = (found >> np.uint64(32)).astype(np.int64), (found & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return a, b, popcount(codes, a, b)


def radii(threshold, sizes):
    """
    Search radius of each word for an exact search: if every word of two codes differed in more than its radius,
    they would differ in sum(radius + 1) > threshold bits, so a pair within threshold is within radius on some word.
    Each word gets threshold // words, at most its bits - 1 (a word that short matches every pair), and words with
    room make up what short words cannot take.

    Args:
        threshold: maximum distance, less than sum(sizes)
        sizes: bits of each word

    Returns:
        list of radii
    """

    radii = [min(threshold // len(sizes), bits - 1) for bits in sizes]
    missing = threshold + 1 - sum(radius + 1 for radius in radii)
    for word, bits in enumerate(sizes):
        extra = max(min(missing, bits - 1 - radii[word]), 0)
        radii[word] += extra
        missing -= extra

    return radii


def candidates(ordered, codes, threshold):
    """
    Verifies candidate pairs: rows whose keys are equal in one table, i.e. equal high 32 bits in a sorted array.

    Args:
        ordered: sorted uint64 array of key << 32 | row
        codes: uint64 array (n, words)
        threshold: maximum distance

    Returns:
        uint64 array of a << 32 | b for verified pairs, a < b
    """

    keys, rows = ordered >> np.uint64(32), (ordered & np.uint64(0xFFFFFFFF)).astype(np.int64)
    output = []

    # Offset by offset through runs of equal keys: a position only stays active while its key still matches
    active, offset = np.flatnonzero(keys[1:] == keys[:-1]), 1
    while active.size:
        a, b = rows[active], rows[active + offset]
        close = popcount(codes, a, b) <= threshold
        a, b = a[close], b[close]
        output.append((np.minimum(a, b).astype(np.uint64) << np.uint64(32)) | np.maximum(a, b).astype(np.uint64))

        active = active[active + offset + 1 < len(keys)]
        active = active[keys[active + offset + 1] == keys[active]]
        offset += 1

    return np.concatenate(output) if output else np.empty(0, dtype=np.uint64)


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
