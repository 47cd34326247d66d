"""
ANN module: an exact Hamming nearest-neighbor index for binary hash vectors, sublinear for near-duplicate queries.
"""

from itertools import combinations

import faiss
import numpy as np

from txtai.ann import ANN

# Bits per multi-index hashing block
BLOCK = 16

# Largest per-block search radius before falling back to a full scan
RADIUS = 2


class HammingIndex(ANN):
    """
    Exact k-nearest-neighbor search by Hamming distance over binary vectors (`quantize: 1`), using multi-index
    hashing (Norouzi et al.): codes are split into m blocks of 16 bits, each block has a bucket table, and a query
    probes the buckets within radius s of its own blocks for s = 0, 1, 2. By the pigeonhole principle, after
    radius s every code within m * (s + 1) - 1 bits of the query has been seen, so the search stops as soon as
    the k best verified candidates are within that bound. Otherwise it falls back to a full popcount scan, so
    results are always exact (the same as faiss BFlat, ties aside).

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

        self.deleted, self.tables = None, None

    def load(self, path):
        with open(path, "rb") as handle:
            data = np.load(handle, allow_pickle=False)
            self.backend, self.deleted = data["codes"], data["deleted"]

        self.build()

    def index(self, embeddings):
        self.backend = np.array(embeddings, dtype=np.uint8)
        self.deleted = np.zeros(self.backend.shape[0], dtype=bool)
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

    def search(self, queries, limit):
        queries = np.asarray(queries, dtype=np.uint8)
        return [self.query(query, limit) for query in queries]

    def count(self):
        return int(self.backend.shape[0] - self.deleted.sum())

    def save(self, path):
        with open(path, "wb") as handle:
            np.savez(handle, codes=self.backend, deleted=self.deleted)

    def build(self):
        """
        Builds one bucket table per block: rows sorted by block value and the start of each value's bucket.
        """

        self.tables = []
        for start in range(0, self.backend.shape[1], BLOCK // 8):
            values = self.values(self.backend[:, start : start + BLOCK // 8])
            size = 1 << (8 * min(BLOCK // 8, self.backend.shape[1] - start))
            order = np.argsort(values, kind="stable").astype(np.int64)
            offsets = np.zeros(size + 1, dtype=np.int64)
            np.cumsum(np.bincount(values, minlength=size), out=offsets[1:])
            self.tables.append((start, size.bit_length() - 1, order, offsets))

    def values(self, blocks):
        """
        Integer values of byte blocks (big endian).

        Args:
            blocks: uint8 array (n, bytes)

        Returns:
            int64 array
        """

        values = np.zeros(blocks.shape[0], dtype=np.int64)
        for column in range(blocks.shape[1]):
            values = (values << 8) | blocks[:, column]
        return values

    def query(self, query, limit):
        """
        Exact k-nearest-neighbor search for one query.

        Args:
            query: uint8 array of packed bits
            limit: number of results

        Returns:
            list of (id, score)
        """

        limit = min(limit, self.count())
        if limit <= 0:
            return []

        seen = np.zeros(0, dtype=np.int64)
        for radius in range(self.setting("radius", RADIUS) + 1):
            # Rows in buckets at exactly this radius from each query block
            rows = []
            for start, bits, order, offsets in self.tables:
                value = int(self.values(query[None, start : start + bits // 8])[0])
                keys = value ^ masks(bits, radius)
                rows.append(gather(order, offsets, keys))

            seen = np.union1d(seen, np.concatenate(rows))
            candidates = seen[~self.deleted[seen]]

            # Every code within bound bits has now been seen
            bound = len(self.tables) * (radius + 1) - 1
            distances = self.distances(query, candidates)
            if np.count_nonzero(distances <= bound) >= limit:
                return self.results(candidates, distances, limit)

        # Far queries: full popcount scan (faiss's SIMD Hamming k-NN), fetching extra rows to skip deleted ones
        deleted = int(self.deleted.sum())
        distances, rows = faiss.knn_hamming(query[None], self.backend, min(limit + deleted, self.backend.shape[0]))
        rows, distances = rows[0], distances[0].astype(np.int64)
        keep = (rows >= 0) & ~self.deleted[np.maximum(rows, 0)]
        return self.results(rows[keep], distances[keep], limit)

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
