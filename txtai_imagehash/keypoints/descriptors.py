"""
Descriptors module: a faiss binary index of keypoint descriptors (128 bits by default), exact while small, then an
inverted file index, built with bounded memory.
"""

import tempfile

import faiss
import numpy as np

from .features import BITS, checkbits

# Descriptors held in an exact flat index; above, an inverted file index (IVF) with about LIST descriptors per list
FLAT = 65536
LIST = 1024

# Most inverted lists of an IVF (list numbers then fit in 2 bytes while building)
LISTS = 65536

# Inverted lists probed per query descriptor
NPROBE = 8

# Descriptors read or added at a time while building
CHUNK = 1 << 20

# Query batches below this many descriptors are searched on one thread: a query's few hundred descriptors take a
# few milliseconds, and faiss's OpenMP threads waiting for busy cores cost far more (100x seen on 2 loaded cores)
SERIAL = 4096


def listcount(rows):
    """
    Number of inverted lists of an IVF over rows descriptors: a power of 2 from 256 to LISTS, about LIST descriptors
    per list.

    Args:
        rows: number of descriptors

    Returns:
        number of lists
    """

    return int(min(LISTS, 2 ** np.ceil(np.log2(max(256, rows / LIST)))))


class Descriptors:
    """
    Binary descriptor index over codes of a fixed number of bits: an exact faiss flat index while small, then an
    inverted file index (IVF) whose centroids are descriptors sampled from the index, so that a query scans a few short
    lists instead of every descriptor. Descriptor ids are row numbers in insertion order.

    Memory is bounded for large collections: new descriptors wait in a temporary file until optimize() adds them,
    and inverted lists are sized exactly before they are filled (a growing list would reserve up to twice its
    size), so an index of n descriptors holds about (bits / 8 + 8) * n bytes (the codes, and 8 bytes of id once it is
    an IVF) at every step.
    """

    def __init__(self, nprobe=NPROBE, bits=BITS):
        """
        Creates an empty descriptor index.

        Args:
            nprobe: inverted lists probed per query descriptor once the index is an IVF
            bits: bits of a descriptor (see txtai_imagehash.keypoints.features.BITS)
        """

        self.bits = checkbits(bits)
        self.index = faiss.IndexBinaryFlat(bits)
        self.nprobe = nprobe

        # Rows when the IVF was built, 0 while the index is flat
        self.trained = 0

        # Descriptors added since the last optimize(): temporary file of codes and their count
        self.spill, self.spilled = None, 0

    def __len__(self):
        return self.index.ntotal + self.spilled

    @property
    def width(self):
        """
        Bytes of a descriptor.

        Returns:
            bits / 8
        """

        return self.bits // 8

    def add(self, codes):
        """
        Adds descriptors. They are searchable after optimize().

        Args:
            codes: uint8 array (n, self.width)
        """

        if codes.ndim != 2 or codes.shape[1] != self.width:
            raise ValueError(f"Descriptors of {codes.shape[-1] * 8} bits cannot join an index of {self.bits}-bit descriptors")

        if self.spill is None:
            # pylint: disable=R1732
            self.spill = tempfile.TemporaryFile()

        self.spill.write(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())
        self.spilled += len(codes)

    def search(self, codes, k):
        """
        Finds the k nearest descriptors of each query descriptor.

        Args:
            codes: uint8 array (n, self.width)
            k: neighbours per query descriptor

        Returns:
            (distances, rows): int arrays (n, k), rows are -1 where fewer than k were found
        """

        if self.trained:
            self.index.nprobe = self.nprobe

        if len(codes) >= SERIAL:
            return self.index.search(codes, k)

        # OpenMP's thread count is per calling thread: set for this search only
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            return self.index.search(codes, k)
        finally:
            faiss.omp_set_num_threads(threads)

    def optimize(self):
        """
        Adds the pending descriptors. The index becomes an IVF once it holds more than FLAT descriptors and is
        rebuilt each time it grows 4x, with about LIST descriptors per list. Centroids are distinct descriptors
        sampled from the index: k-means over binary codes costs minutes at a million descriptors for little gain
        in list balance.
        """

        if not self.spilled:
            return

        start, rows = self.index.ntotal, len(self)
        if rows <= FLAT or (self.trained and rows < 4 * self.trained):
            # Same structure: add the new rows
            for offset, codes in self.chunks(self.spilled):
                if self.trained:
                    self.index.add_with_ids(codes, np.arange(start + offset, start + offset + len(codes), dtype=np.int64))
                else:
                    self.index.add(codes)
        else:
            self.rebuild()

        self.spill.close()
        self.spill, self.spilled = None, 0

    def rebuild(self):
        """
        Builds a new IVF over every descriptor: the indexed ones move to the temporary file first (rows before the
        pending ones), so that one index is in memory at a time.
        """

        indexed = self.index.ntotal
        if indexed:
            pending = self.read(0, self.spilled)
            self.spill.seek(0)
            self.spill.truncate()
            for _, codes in self.indexed():
                self.spill.write(codes.tobytes())
            self.spill.write(pending.tobytes())
            del pending

        rows = indexed + self.spilled
        self.spilled = rows
        self.index = None

        # Centroids: distinct sampled descriptors
        nlist = listcount(rows)
        picks = np.sort(np.random.default_rng(0).choice(rows, min(rows, 2 * nlist), replace=False))
        sample = np.unique(np.concatenate([codes[picks[(picks >= offset) & (picks < offset + len(codes))] - offset] for offset, codes in self.chunks(rows)]), axis=0)
        sample = sample[np.random.default_rng(0).permutation(len(sample))[:nlist]]

        # Coarse quantizer over the centroids: HNSW when there are many
        quantizer = faiss.IndexBinaryHNSW(self.bits, 16) if len(sample) >= 4096 else faiss.IndexBinaryFlat(self.bits)
        quantizer.add(sample)
        index = faiss.IndexBinaryIVF(quantizer, self.bits, len(sample))
        quantizer.this.disown()
        index.own_fields = True

        # Assign every row to its list (2 bytes a row, see LISTS), size every list exactly, then fill the lists
        lists = np.concatenate([quantizer.search(codes, 1)[1][:, 0].astype(np.uint16) for _, codes in self.chunks(rows)])
        for number, size in enumerate(np.bincount(lists, minlength=index.nlist)):
            index.invlists.resize(number, int(size))
            index.invlists.resize(number, 0)

        for offset, codes in self.chunks(rows):
            ids = np.arange(offset, offset + len(codes), dtype=np.int64)
            assigned = lists[offset : offset + len(codes)].astype(np.int64)
            index.add_core(len(codes), faiss.swig_ptr(codes), faiss.swig_ptr(ids), faiss.swig_ptr(assigned))

        index.ntotal = rows
        self.index, self.trained = index, rows

    def indexed(self):
        """
        Reads the indexed descriptors back in row order, in chunks (an IVF is read back whole: rebuilding one holds
        it and a copy of its codes at once).

        Returns:
            generator of (first row, uint8 array (n, self.width))
        """

        if self.trained:
            # Codes of each inverted list, placed by id
            codes = np.empty((self.index.ntotal, self.width), dtype=np.uint8)
            invlists = self.index.invlists
            for number in range(invlists.nlist):
                size = invlists.list_size(number)
                if size:
                    ids = faiss.rev_swig_ptr(invlists.get_ids(number), size).copy()
                    codes[ids] = faiss.rev_swig_ptr(invlists.get_codes(number), size * self.width).reshape(size, self.width)

            yield 0, codes
        else:
            for start in range(0, self.index.ntotal, CHUNK):
                yield start, self.index.reconstruct_n(start, min(CHUNK, self.index.ntotal - start))

    def chunks(self, rows):
        """
        Reads the first rows of the temporary file in chunks.

        Args:
            rows: number of rows

        Returns:
            generator of (first row, uint8 array (n, self.width))
        """

        for offset in range(0, rows, CHUNK):
            yield offset, self.read(offset, min(rows, offset + CHUNK))

    def read(self, start, end):
        """
        Reads rows of the temporary file.

        Args:
            start: first row
            end: end row

        Returns:
            uint8 array (end - start, self.width)
        """

        self.spill.seek(self.width * start)
        return np.fromfile(self.spill, dtype=np.uint8, count=self.width * (end - start)).reshape(-1, self.width)

    def save(self, path):
        """
        Writes the index to a file.

        Args:
            path: file path
        """

        self.optimize()
        faiss.write_index_binary(self.index, path)

    def load(self, path, trained):
        """
        Reads an index written by save(). Its descriptors keep the bits they were written with (indexes saved before
        descriptors were shortened hold 256).

        Args:
            path: file path
            trained: rows when the IVF was built, 0 for a flat index
        """

        self.index, self.trained = faiss.read_index_binary(path), int(trained)
        self.bits = self.index.d
