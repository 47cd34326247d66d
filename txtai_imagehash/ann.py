"""
ANN module: an exact Hamming nearest-neighbor index for binary hash vectors, sublinear for near-duplicate queries,
and the multi-index hashing helpers that it, the PostgreSQL index (txtai_imagehash.postgres) and the pair finders of
dedup share: block layout, per-block radii, block value variants, the equal-key table layout.
"""

from itertools import combinations
from math import comb

import faiss
import numpy as np

from txtai.ann import ANN

# Bits per multi-index hashing block
BLOCK = 16

# Largest per-block search radius before falling back to a full scan
RADIUS = 2

# Largest per-block radius of a search bounded by a distance: a bounded search returns only the codes within it, so it
# probes until it has seen them all (the combined hash's threshold, 36 bits over 12 blocks, needs radius 3 of one)
BOUNDED = 3


class HammingIndex(ANN):
    """
    Exact k-nearest-neighbor search by Hamming distance over binary vectors (`quantize: 1`), using multi-index
    hashing (Norouzi et al.): codes are split into m blocks of 16 bits (see layout()), each block has a bucket
    table, and a query probes the buckets around its own blocks one block at a time, radius 0 of each block, then
    radius 1, then radius 2 (see radii()). By the pigeonhole principle, after the probe of block x at radius s
    every code within m * s + x bits of the query has been seen, so the search stops as soon as the k best
    verified candidates are within that bound. Otherwise it falls back to a full popcount scan, so results are
    always exact (the same as faiss BFlat, ties aside).

    A near-duplicate query (nearest hash a few bits away) touches a few dozen codes instead of all of them.

    Configure with `"backend": "txtai_imagehash.ann.HammingIndex"` and `"quantize": 1`, or
    vectorconfig(backend="hamming"). Scores are txtai's binary scores, 1 - hamming / (8 * dimensions bytes).
    Deleted rows are tracked in a mask (an all-zero hash, such as an all-black image's average hash, is a
    valid code here).
    """

    def __init__(self, config):
        super().__init__(config)

        if config.get("quantize") != 1:
            raise ValueError("HammingIndex indexes binary vectors: set quantize: 1")

        self.deleted, self.tables, self.blocks = None, None, None

        # Number of deleted rows (counting the mask costs milliseconds at 10M rows)
        self.removed = 0

    def load(self, path):
        with open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)
            self.backend, self.deleted = data["codes"], data["deleted"]
            self.removed = int(self.deleted.sum())

        self.build()

    def index(self, embeddings):
        self.backend = np.array(embeddings, dtype=np.uint8)
        self.deleted, self.removed = np.zeros(self.backend.shape[0], dtype=bool), 0
        self.build()

        self.config["offset"] = self.backend.shape[0]
        self.metadata({"blocks": len(self.tables), "block": BLOCK, "radius": self.setting("radius", RADIUS)})

    def append(self, embeddings):
        self.backend = np.concatenate([self.backend, np.asarray(embeddings, dtype=np.uint8)])
        self.deleted = np.concatenate([self.deleted, np.zeros(embeddings.shape[0], dtype=bool)])
        self.build()

        self.config["offset"] += embeddings.shape[0]
        self.metadata()

    def delete(self, ids):
        ids = np.array([x for x in ids if 0 <= x < self.backend.shape[0]], dtype=np.int64)
        self.deleted[ids] = True
        self.removed = int(self.deleted.sum())

    def search(self, queries, limit, maxdistance=None):
        """
        Searches the nearest rows of queries.

        Args:
            queries: uint8 array of packed hash bits, one row per query
            limit: rows per query
            maxdistance: None for the limit nearest rows, or the largest distance returned: an int or one int per
                         query (a negative bound returns nothing)

        Returns:
            list of [(index id, score)] per query
        """

        queries = np.asarray(queries, dtype=np.uint8)
        bounds = maxdistance if isinstance(maxdistance, (list, tuple)) else [maxdistance] * len(queries)
        return [self.query(query, limit, bound) for query, bound in zip(queries, bounds)]

    def count(self):
        return int(self.backend.shape[0] - self.removed)

    def save(self, path):
        with open(path, "wb") as handle:
            np.savez(handle, codes=self.backend, deleted=self.deleted)

    def build(self):
        """
        Builds one bucket table per block (see layout()): rows sorted by block value and the start of each value's
        bucket.
        """

        codes = towords(self.backend)
        self.blocks = layout(8 * self.backend.shape[1], 64 // BLOCK)

        # Row numbers as int32 while they fit: half the memory of int64 at 10M rows
        dtype = np.int32 if codes.shape[0] < 2**31 else np.int64

        self.tables = []
        for x, (_, _, width) in enumerate(self.blocks):
            # Block values of 16 bits or less sort by radix sort (numpy's stable sort of small integers): linear time
            values = split(codes, [self.blocks[x]])[:, 0]
            order = np.argsort(values.astype(np.uint16) if width <= 16 else values, kind="stable").astype(dtype)
            offsets = np.zeros((1 << width) + 1, dtype=np.int64)
            np.cumsum(np.bincount(values, minlength=1 << width), out=offsets[1:])
            self.tables.append((order, offsets))

    def query(self, query, limit, maxdistance=None):
        """
        Exact k-nearest-neighbor search for one query. Probes one block at a time in the order of radii(): after
        each probe every code within the current bound has been seen, so the search stops as soon as limit
        verified codes are within it, or, with a maxdistance, once every code within it has been seen.

        Args:
            query: uint8 array of packed bits
            limit: number of results
            maxdistance: largest distance returned, None for no bound

        Returns:
            list of (id, score)
        """

        limit = min(limit, self.count())
        if limit <= 0 or (maxdistance is not None and maxdistance < 0):
            return []

        values = split(towords(query[None]), self.blocks)[0]
        count, rows, distances = len(self.tables), [], []

        # A bounded search within reach of the buckets probes up to its bound
        if maxdistance is not None and maxdistance < count * (BOUNDED + 1):
            return self.within(query, values, limit, maxdistance)

        for bound in range(count * (self.setting("radius", RADIUS) + 1)):
            # Rows in the buckets at exactly radius bound // count from the query's block bound % count
            block, radius = bound % count, bound // count
            order, offsets = self.tables[block]
            found = gather(order, offsets, values[block] ^ masks(self.blocks[block][2], radius))
            found = found[~self.deleted[found]]
            rows.append(found)
            distances.append(self.distances(query, found))

            # Every code within bound bits has now been seen
            close = np.concatenate(rows)[np.concatenate(distances) <= bound]
            if close.size >= limit and np.unique(close).size >= limit:
                rows, first = np.unique(np.concatenate(rows), return_index=True)
                return self.results(rows, np.concatenate(distances)[first], limit)

        # Far queries: full popcount scan (faiss's SIMD Hamming k-NN), fetching extra rows to skip deleted ones
        distances, rows = faiss.knn_hamming(query[None], self.backend, min(limit + self.removed, self.backend.shape[0]))
        rows, distances = rows[0], distances[0].astype(np.int64)
        keep = (rows >= 0) & ~self.deleted[np.maximum(rows, 0)]
        keep &= distances <= maxdistance if maxdistance is not None else True
        return self.results(rows[keep], distances[keep], limit)

    def within(self, query, values, limit, maxdistance):
        """
        Nearest rows within a distance: probes the buckets of every bound up to maxdistance (after them every code
        within it has been seen), then verifies the rows found at once.

        Args:
            query: uint8 array of packed bits
            values: the query's block values
            limit: number of results
            maxdistance: largest distance returned

        Returns:
            list of (id, score)
        """

        count, found = len(self.tables), []
        for bound in range(maxdistance + 1):
            block, radius = bound % count, bound // count
            order, offsets = self.tables[block]
            found.append(gather(order, offsets, values[block] ^ masks(self.blocks[block][2], radius)))

        rows = np.unique(np.concatenate(found))
        rows = rows[~self.deleted[rows]]
        distances = self.distances(query, rows)
        return self.results(rows[distances <= maxdistance], distances[distances <= maxdistance], limit)

    def distances(self, query, rows):
        """
        Hamming distances from query to rows.

        Args:
            query: uint8 array
            rows: row numbers

        Returns:
            int array
        """

        return np.bitwise_count(self.backend[rows] ^ query).sum(axis=1, dtype=np.int64)

    def results(self, rows, distances, limit):
        """
        Best rows by distance as (id, score), ties by id.

        Args:
            rows: row numbers
            distances: distances of rows
            limit: number of results

        Returns:
            list of (id, score)
        """

        if limit < len(rows):
            best = np.argpartition(distances, limit - 1)[:limit]
            rows, distances = rows[best], distances[best]

        order = np.lexsort((rows, distances))[:limit]
        scores = np.clip(1.0 - distances[order] / (self.config["dimensions"] * 8), 0.0, 1.0)
        return list(zip(rows[order].tolist(), scores.tolist()))


def layout(nbits, perword=4):
    """
    Splits hashes into blocks for multi-index hashing. Hashes are rows of 64-bit words as
    txtai_imagehash.hashing.codec.words() encodes them (the last word right aligned); each word is split into
    perword blocks of nearly equal width, most significant bits first. The embedded index, the PostgreSQL index
    and the PostgreSQL dedup all split hashes with this function.

    Args:
        nbits: bits per hash (a multiple of 64 or the width of the last, right aligned word)
        perword: blocks per 64-bit word

    Returns:
        list of (word, shift, width): block value = (words[word] >> shift) & (2**width - 1)
    """

    blocks = []
    for word in range(-(-nbits // 64)):
        length = min(64, nbits - 64 * word)
        edges = np.linspace(0, length, min(perword, length) + 1).round().astype(int).tolist()
        blocks.extend((word, length - end, end - start) for start, end in zip(edges[:-1], edges[1:]))

    return blocks


def split(codes, blocks):
    """
    Block values of hashes.

    Args:
        codes: uint64 array (n, words)
        blocks: layout() output

    Returns:
        int64 array (n, len(blocks))
    """

    values = np.empty((codes.shape[0], len(blocks)), dtype=np.int64)
    for x, (word, shift, width) in enumerate(blocks):
        values[:, x] = ((codes[:, word] >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.int64)

    return values


def towords(packed):
    """
    Converts packed bit vectors (txtai's binary vectors: uint8, most significant bit first) into rows of 64-bit
    words, the last word right aligned as in txtai_imagehash.hashing.codec.words().

    Args:
        packed: uint8 array (n, bytes)

    Returns:
        uint64 array (n, words)
    """

    count, size = packed.shape
    full = size - size % 8
    padded = np.zeros((count, -(-size // 8) * 8), dtype=np.uint8)
    padded[:, :full] = packed[:, :full]
    padded[:, padded.shape[1] - (size - full) :] = packed[:, full:]
    return padded.view(">u8").astype(np.uint64)


def radii(count, radius, widths=None):
    """
    Per-block search radii of a multi-index hashing query within radius bits (the generalized pigeonhole
    principle): two hashes within radius bits, split into count blocks, are within radius // count bits on one
    of the first radius % count + 1 blocks or within radius // count - 1 bits on one of the others, so block x is
    searched within (radius - x) // count bits. A block with radius -1 is not searched. In general: if every block
    of two hashes differed in more than its radius, they would differ in sum(radius + 1) > radius bits.

    Searching the blocks one at a time in the order (radius 0 of each block, then radius 1 of each, ...), after
    the probe of block x at radius s every hash within count * s + x bits has been seen.

    With widths, no block is searched within its whole width (that would match every hash): a block takes at most
    width - 1 bits and blocks with room make up the rest (pairs() searches the 64-bit words of a hash this way, a
    short last word gets less).

    Args:
        count: number of blocks
        radius: query radius in bits, less than sum(widths) when given
        widths: optional block widths in bits

    Returns:
        list of per-block radii
    """

    values = [(radius - x) // count if x <= radius else -1 for x in range(count)]
    if widths is not None:
        values = [min(value, width - 1) for value, width in zip(values, widths)]
        missing = radius + 1 - sum(value + 1 for value in values)
        for x, width in enumerate(widths):
            extra = max(min(missing, width - 1 - values[x]), 0)
            values[x] += extra
            missing -= extra

    return values


def variants(value, width, radius):
    """
    All block values within radius bits of value.

    Args:
        value: block value
        width: block width in bits
        radius: radius in bits, -1 for none

    Returns:
        int64 array
    """

    if radius < 0:
        return np.zeros(0, dtype=np.int64)

    return np.concatenate([value ^ masks(width, x) for x in range(radius + 1)])


def keys(widths, radius):
    """
    Number of block values a query within radius bits probes.

    Args:
        widths: block widths
        radius: query radius

    Returns:
        number of block values
    """

    return sum(sum(comb(width, x) for x in range(min(s, width) + 1)) for width, s in zip(widths, radii(len(widths), radius)))


def share(widths, radius):
    """
    Expected share of the rows a query within radius bits reads, for uniform random hashes: the share of block values
    it probes, summed over blocks.

    Args:
        widths: block widths
        radius: query radius

    Returns:
        share of rows, 0 to len(widths)
    """

    return sum(sum(comb(width, x) for x in range(min(s, width) + 1)) / 2**width for width, s in zip(widths, radii(len(widths), radius)))


def pigeonhole(count, threshold, bits, keybits):
    """
    Chooses the block layout for finding all pairs within threshold bits by equal keys (txtai_imagehash.duplicates.pairs
    in numpy, txtai_imagehash.postgres.pairs in SQL): bits are split into blocks, and two hashes within threshold bits
    differ in at most threshold blocks, so at least blocks - threshold blocks are equal. Every choice of that many
    blocks is one table (one sort or hash join). More blocks mean more tables with fewer candidates each.

    Args:
        count: number of hashes
        threshold: maximum distance
        bits: bits available for keys (at most 64)
        keybits: largest key in bits

    Returns:
        number of blocks
    """

    best, cost = None, None
    for blocks in range(threshold + 1, min(bits, threshold + 24) + 1):
        match = blocks - threshold
        tables = comb(blocks, match)
        width = min(bits * match / blocks, keybits)

        # Cost model: a sort per table plus candidate pairs to verify (expected for uniform hashes)
        estimate = tables * (count + 3 * count * count / 2 ** (width + 1))
        if cost is None or estimate < cost:
            best, cost = blocks, estimate

    return best


MASKS = {}


def masks(bits, radius):
    """
    All bits-wide integers with exactly radius bits set.

    Args:
        bits: width in bits
        radius: number of set bits

    Returns:
        int64 array
    """

    if (bits, radius) not in MASKS:
        MASKS[(bits, radius)] = np.array([sum(1 << x for x in ones) for ones in combinations(range(bits), radius)], dtype=np.int64)

    return MASKS[(bits, radius)]


def gather(order, offsets, keys):
    """
    Rows of the buckets of keys.

    Args:
        order: rows sorted by block value
        offsets: start of each value's bucket in order
        keys: block values

    Returns:
        int64 array of rows
    """

    starts, ends = offsets[keys], offsets[keys + 1]
    lengths = ends - starts
    total = int(lengths.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)

    # Concatenated ranges without a Python loop
    shifts = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return order[shifts + np.arange(total)]
