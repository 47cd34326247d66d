"""
Keypoints module: the optional local-feature stage. ORB keypoints and their 256-bit binary descriptors, a faiss
binary index mapping descriptors to images, candidate images ranked by descriptor votes and verified by an affine
fit. Finds the original of crops that global hashes cannot. Needs the `keypoints` extra (opencv-python-headless).

The index plugs into txtai's graph slot (`"graph": {"backend": "txtai_imagehash.keypoints.Keypoints"}`): txtai hands
it every indexed document, and saves, loads, upserts and deletes it with the rest of the Embeddings index.
"""

import os
import tempfile

import faiss
import numpy as np

from PIL import Image
from txtai.graph import Graph

from .hashing import draft
from .images import ImageError, describe, load, skip

# Graph backend name of the keypoint index
BACKEND = "txtai_imagehash.keypoints.Keypoints"

# Longest side, in pixels, an image is resized to before keypoints are detected
SIDE = 512

# Keypoints kept per indexed image and per query image (the query adds as many from its mirror image)
COUNT = 256
QUERY = 300

# Neighbours searched per query descriptor
NEIGHBORS = 4

# Candidate images verified per query: the images with the most descriptor votes
CANDIDATES = 8

# Descriptors held in an exact flat index; above, an inverted file index (IVF) with about LIST descriptors per list
FLAT = 65536
LIST = 1024

# Inverted lists probed per query descriptor
NPROBE = 8

# Descriptors read or added at a time while building
CHUNK = 1 << 20

# Grid of cells the kept keypoints are spread over, so that any crop keeps some
GRID = 8

# Largest Hamming distance, of 256 bits, between matching descriptors
MATCH = 64

# Lowe's ratio: a match is kept when its distance is below this share of the next distance to the same image
RATIO = 0.8

# RANSAC reprojection threshold as a share of SIDE, and the distinct inlier keypoints that make a match
REPROJECTION = 0.01
INLIERS = 8

# Largest scale between a copy and its original, and largest ratio of the scales along two axes of an affine fit
SCALE = 8
SKEW = 2


def keypointconfig(**options):
    """
    Embeddings `graph` configuration of a keypoint index. Checks that OpenCV is installed.

    Args:
        options: Keypoints options: count, exif, nprobe, paths

    Returns:
        dict
    """

    cv2()
    return {"backend": BACKEND, **options}


def cv2():
    """
    Imports OpenCV, which the `keypoints` extra installs.

    Returns:
        cv2 module
    """

    try:
        # pylint: disable=C0415
        import cv2 as module

        return module
    except ImportError as error:
        raise ImportError('Keypoints need OpenCV: pip install "txtai-imagehash[keypoints]"') from error


class Features:
    """
    Detects ORB keypoints of an image, spread over a grid, and computes their binary descriptors.
    """

    def __init__(self, count=COUNT, side=SIDE, grid=GRID):
        """
        Creates a keypoint detector.

        Args:
            count: number of keypoints kept
            side: longest side the image is resized to
            grid: the kept keypoints are spread over grid x grid cells
        """

        self.count, self.side, self.grid = count, side, grid
        self.orb = cv2().ORB_create(nfeatures=4 * count, scaleFactor=1.2, nlevels=8, edgeThreshold=15, patchSize=31, fastThreshold=10)

    def __call__(self, image, mirror=False):
        """
        Detects keypoints.

        Args:
            image: PIL image
            mirror: also return the keypoints of the image's mirror image (flipped left to right)

        Returns:
            (points, descriptors): float32 array (n, 2) of x, y positions in the resized image, uint8 array (n, 32);
            with mirror, a list of two such pairs: the image's, then its mirror image's
        """

        pixels = self.pixels(image)
        keypoints = self.spread(self.orb.detect(pixels, None))
        if not mirror:
            return self.describe(pixels, keypoints)

        # FAST corners and their responses are symmetric: the mirror image's keypoints are the mirrored keypoints
        width = pixels.shape[1]
        mirrored = [cv2().KeyPoint(width - 1 - k.pt[0], k.pt[1], k.size, (180 - k.angle) % 360, k.response, k.octave) for k in keypoints]
        return [self.describe(pixels, keypoints), self.describe(np.ascontiguousarray(pixels[:, ::-1]), mirrored)]

    def describe(self, pixels, keypoints):
        """
        Computes the descriptors of keypoints.

        Args:
            pixels: grey uint8 array
            keypoints: list of cv2.KeyPoint

        Returns:
            (points, descriptors), see __call__
        """

        keypoints, descriptors = self.orb.compute(pixels, keypoints)
        if descriptors is None or not keypoints:
            return np.zeros((0, 2), dtype=np.float32), np.zeros((0, 32), dtype=np.uint8)

        return np.array([k.pt for k in keypoints], dtype=np.float32), descriptors

    def pixels(self, image):
        """
        Converts an image to the grey array keypoints are detected in, its longest side resized to self.side.

        Args:
            image: PIL image

        Returns:
            uint8 array
        """

        grey = image if image.mode == "L" else image.convert("L")
        scale = self.side / max(grey.size)
        size = (max(1, round(grey.width * scale)), max(1, round(grey.height * scale)))
        return np.asarray(grey.resize(size, Image.Resampling.BILINEAR if scale < 1 else Image.Resampling.BICUBIC))

    def spread(self, keypoints):
        """
        Keeps the strongest self.count keypoints, taken in turn from each grid cell.

        Args:
            keypoints: list of cv2.KeyPoint

        Returns:
            list of cv2.KeyPoint
        """

        if len(keypoints) <= self.count:
            return keypoints

        points = np.array([k.pt for k in keypoints])
        cells = np.floor(points / (self.side / self.grid + 1e-6)).astype(np.int64)
        cell = cells[:, 1] * self.grid + cells[:, 0]

        # Rank of each keypoint within its cell by response, then keep by rank: every cell's best first
        order = np.lexsort((-np.array([k.response for k in keypoints]), cell))
        ranks = np.empty(len(order), dtype=np.int64)
        starts = np.searchsorted(cell[order], cell[order], side="left")
        ranks[order] = np.arange(len(order)) - starts
        keep = np.lexsort((cell, ranks))[: self.count]
        return [keypoints[x] for x in sorted(keep)]


def verify(source, target, side=SIDE):
    """
    Fits an affine transform from query keypoints to an indexed image's keypoints with RANSAC and counts the distinct
    keypoints it maps within the reprojection threshold.

    Args:
        source: float32 array (n, 2) of query keypoint positions
        target: float32 array (n, 2) of the matched indexed keypoint positions
        side: image side the positions are measured in

    Returns:
        number of distinct inlier keypoints, 0 when no plausible transform fits
    """

    if len(source) < INLIERS:
        return 0

    # Same result for the same matches
    cv2().setRNGSeed(0)
    matrix, inliers = cv2().estimateAffine2D(source, target, method=cv2().RANSAC, ransacReprojThreshold=REPROJECTION * side, maxIters=2000, confidence=0.995)
    if matrix is None:
        return 0

    # A copy is not mirrored (mirror images are queried separately), nor collapsed to a line, nor stretched more
    # than SKEW times along one axis than the other, nor scaled beyond SCALE
    singular = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if np.linalg.det(matrix[:, :2]) <= 0 or singular[1] < 1 / SCALE or singular[0] > SCALE or singular[0] / singular[1] > SKEW:
        return 0

    inliers = inliers.reshape(-1).astype(bool)
    return min(len(np.unique(source[inliers].round(), axis=0)), len(np.unique(target[inliers].round(), axis=0)))


class Descriptors:
    """
    Binary descriptor index over 256-bit codes: an exact faiss flat index while small, then an inverted file index
    (IVF) whose centroids are descriptors sampled from the index, so that a query scans a few short lists instead of
    every descriptor. Descriptor ids are row numbers in insertion order.

    Memory is bounded for large collections: new descriptors wait in a temporary file until optimize() adds them,
    and inverted lists are sized exactly before they are filled (a growing list would reserve up to twice its
    size), so an index of n descriptors holds about 40 * n bytes (32 bytes of code, 8 of id) at every step.
    """

    def __init__(self, nprobe=NPROBE):
        """
        Creates an empty descriptor index.

        Args:
            nprobe: inverted lists probed per query descriptor once the index is an IVF
        """

        self.index = faiss.IndexBinaryFlat(256)
        self.nprobe = nprobe

        # Rows when the IVF was built, 0 while the index is flat
        self.trained = 0

        # Descriptors added since the last optimize(): temporary file of codes and their count
        self.spill, self.spilled = None, 0

    def __len__(self):
        return self.index.ntotal + self.spilled

    def add(self, codes):
        """
        Adds descriptors. They are searchable after optimize().

        Args:
            codes: uint8 array (n, 32)
        """

        if self.spill is None:
            # pylint: disable=R1732
            self.spill = tempfile.TemporaryFile()

        self.spill.write(np.ascontiguousarray(codes, dtype=np.uint8).tobytes())
        self.spilled += len(codes)

    def search(self, codes, k):
        """
        Finds the k nearest descriptors of each query descriptor.

        Args:
            codes: uint8 array (n, 32)
            k: neighbours per query descriptor

        Returns:
            (distances, rows): int arrays (n, k), rows are -1 where fewer than k were found
        """

        if self.trained:
            self.index.nprobe = self.nprobe

        return self.index.search(codes, k)

    def optimize(self):
        """
        Adds the pending descriptors. The index becomes an IVF once it holds more than FLAT descriptors and is
        rebuilt each time it grows 4x, with about LIST descriptors per list. Centroids are distinct descriptors
        sampled from the index: k-means over 256-bit codes costs minutes at a million descriptors for little gain
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
        nlist = int(min(65536, 2 ** np.ceil(np.log2(max(256, rows / LIST)))))
        picks = np.sort(np.random.default_rng(0).choice(rows, min(rows, 2 * nlist), replace=False))
        sample = np.unique(np.concatenate([codes[picks[(picks >= offset) & (picks < offset + len(codes))] - offset] for offset, codes in self.chunks(rows)]), axis=0)
        sample = sample[np.random.default_rng(0).permutation(len(sample))[:nlist]]

        # Coarse quantizer over the centroids: HNSW when there are many
        quantizer = faiss.IndexBinaryHNSW(256, 16) if len(sample) >= 4096 else faiss.IndexBinaryFlat(256)
        quantizer.add(sample)
        index = faiss.IndexBinaryIVF(quantizer, 256, len(sample))
        quantizer.this.disown()
        index.own_fields = True

        # Assign every row to its list, size every list exactly, then fill the lists
        lists = np.concatenate([quantizer.search(codes, 1)[1][:, 0].astype(np.int32) for _, codes in self.chunks(rows)])
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
            generator of (first row, uint8 array (n, 32))
        """

        if self.trained:
            # Codes of each inverted list, placed by id
            codes = np.empty((self.index.ntotal, 32), dtype=np.uint8)
            invlists = self.index.invlists
            for number in range(invlists.nlist):
                size = invlists.list_size(number)
                if size:
                    ids = faiss.rev_swig_ptr(invlists.get_ids(number), size).copy()
                    codes[ids] = faiss.rev_swig_ptr(invlists.get_codes(number), size * 32).reshape(size, 32)

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
            generator of (first row, uint8 array (n, 32))
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
            uint8 array (end - start, 32)
        """

        self.spill.seek(32 * start)
        return np.fromfile(self.spill, dtype=np.uint8, count=32 * (end - start)).reshape(-1, 32)

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
        Reads an index written by save().

        Args:
            path: file path
            trained: rows when the IVF was built, 0 for a flat index
        """

        self.index, self.trained = faiss.read_index_binary(path), int(trained)


class Keypoints(Graph):
    """
    Keypoint index of an Embeddings index, in txtai's graph slot: every indexed document with an image object gets
    its ORB keypoints and descriptors stored here, keyed by the document's index id. match() finds the indexed
    images a query image is a (possibly cropped, flipped, rotated or squashed) copy of.

    Configure with `"graph": {"backend": "txtai_imagehash.keypoints.Keypoints"}` and optionally `count` (keypoints
    per image, COUNT), `exif` (apply EXIF orientation, True), `nprobe` (NPROBE) and `paths` (read the image from
    the document's `path` field when it has no `object`, False). txtai_imagehash.build(images, keypoints=True) and
    `txtai-imagehash index --keypoints` do this.
    """

    def __init__(self, config):
        super().__init__(config)

        self.keep = config.get("count", COUNT)
        self.exif = config.get("exif", True)

        # Read the image from the document's path field when it has no image object
        self.paths = config.get("paths", False)

        # Keypoint detectors, created on first use
        self.detectors = {}

        # Per image slot: index id, first descriptor row and deleted flag; per descriptor row: its keypoint position
        self.ids, self.starts, self.deleted = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
        self.points = np.zeros((0, 2), dtype=np.float16)
        self.descriptors = Descriptors(config.get("nprobe", NPROBE))

        # Images inserted since the arrays were last consolidated: (index id, first row, positions)
        self.pending = []

    def create(self):
        # Nothing to create: the arrays and the descriptor index exist from __init__
        return None

    def initialize(self):
        return None

    def isquery(self, queries):
        """
        Keypoint indexes answer no graph queries: txtai runs every query as usual.

        Args:
            queries: queries

        Returns:
            False
        """

        return False

    def count(self):
        """
        Number of images in the keypoint index.

        Returns:
            count of images not deleted
        """

        self.flush()
        return int((~self.deleted).sum())

    def insert(self, documents, index=0):
        """
        Extracts and stores the keypoints of each document's image. Index ids are assigned as txtai assigns them:
        one per document with a text or object field.

        Args:
            documents: list of (id, data, tags)
            index: index id of the first document
        """

        for _, document, _ in documents:
            if isinstance(document, dict):
                value, image = document.get(self.text, document.get(self.object)), document.get(self.object)
                image = document.get("path") if image is None and self.paths else image
            else:
                value, image = document, None if isinstance(document, str) else document

            if value is None:
                continue

            if image is not None:
                self.add(index, image)

            index += 1

    def add(self, indexid, image):
        """
        Adds the keypoints of one image. An image that cannot be decoded is logged and skipped.

        Args:
            indexid: index id
            image: PIL image, path, bytes or binary file object
        """

        try:
            # JPEG files decode at reduced scale: keypoints need SIDE pixels
            image = load(draft(image, "grey", SIDE) or image, self.exif, normalize=True, name=describe(image))
        except ImageError as error:
            skip(error)
            return

        self.append(indexid, *self.detector(self.keep)(image))

    def append(self, indexid, points, codes):
        """
        Adds keypoints already extracted with Features.

        Args:
            indexid: index id
            points: float32 array (n, 2) of keypoint positions
            codes: uint8 array (n, 32) of descriptors
        """

        self.pending.append((indexid, len(self.descriptors), points.astype(np.float16)))
        self.descriptors.add(codes)

    def flush(self):
        """
        Consolidates the images inserted since the last call into the slot and position arrays.
        """

        if self.pending:
            ids, starts, points = zip(*self.pending)
            self.ids = np.concatenate([self.ids, np.array(ids, dtype=np.int64)])
            self.starts = np.concatenate([self.starts, np.array(starts, dtype=np.int64)])
            self.deleted = np.concatenate([self.deleted, np.zeros(len(ids), dtype=bool)])
            self.points = np.concatenate([self.points, *points])
            self.pending = []

    def index(self, search, ids, similarity):
        """
        Called by txtai after a full index: makes the inserted keypoints searchable. The arguments (graph edge
        inference functions) are not used.
        """

        self.flush()
        self.descriptors.optimize()

    def upsert(self, search, ids, similarity=None):
        """
        Called by txtai after an upsert: makes the inserted keypoints searchable.
        """

        self.index(search, ids, similarity)

    def delete(self, ids):
        """
        Deletes images by index id. Their descriptors stay in the faiss index and are ignored by match().

        Args:
            ids: index ids
        """

        self.flush()
        self.deleted |= np.isin(self.ids, np.asarray(list(ids), dtype=np.int64))

    def detector(self, count):
        """
        Gets the keypoint detector keeping count keypoints.

        Args:
            count: keypoints per image

        Returns:
            Features
        """

        if count not in self.detectors:
            self.detectors[count] = Features(count)

        return self.detectors[count]

    def match(self, image, limit=CANDIDATES):
        """
        Finds the indexed images that an image is a copy of: its keypoints, and those of its mirror image, vote for
        the indexed images holding their nearest descriptors; the images with the most votes are verified by an
        affine fit between matched keypoint positions.

        Args:
            image: PIL image, already oriented
            limit: candidate images verified

        Returns:
            list of (index id, distinct inlier keypoints), most inliers first, only images with at least INLIERS
        """

        self.flush()
        best = {}
        for points, codes in self.detector(QUERY)(image, mirror=True):
            for slot, inliers in self.find(points, codes, limit):
                best[slot] = max(inliers, best.get(slot, 0))

        return [(int(self.ids[slot]), inliers) for slot, inliers in sorted(best.items(), key=lambda x: (-x[1], x[0]))]

    def find(self, points, codes, limit):
        """
        Matches one set of query keypoints against the index: votes, then verification of the best candidates.

        Args:
            points: float32 array (n, 2) of query keypoint positions
            codes: uint8 array (n, 32) of query descriptors
            limit: candidate images verified

        Returns:
            list of (slot, inliers) of verified images
        """

        if not len(codes) or not len(self.descriptors) or not len(self.ids):
            return []

        distances, rows = self.descriptors.search(codes, NEIGHBORS)
        slots = np.searchsorted(self.starts, np.maximum(rows, 0), side="right") - 1
        valid = (rows >= 0) & (distances <= MATCH) & ~self.deleted[slots]

        # Votes: query keypoints with at least one of their neighbours in the image
        queries = np.broadcast_to(np.arange(len(codes))[:, None], rows.shape)
        voters = np.unique(queries[valid] * len(self.ids) + slots[valid])
        candidates, votes = np.unique(voters % len(self.ids), return_counts=True)
        order = np.argsort(-votes, kind="stable")[:limit]

        results, positions = [], np.arange(len(codes))
        for slot in candidates[order][votes[order] >= INLIERS]:
            # Nearest neighbour in this image, kept when clearly nearer than the next one in this image (Lowe)
            own = valid & (slots == slot)
            first = own.argmax(axis=1)
            others = own.copy()
            others[positions, first] = False
            second = others.argmax(axis=1)
            keep = own.any(axis=1) & (~others.any(axis=1) | (distances[positions, first] < RATIO * distances[positions, second]))

            source = points[keep]
            target = self.points[rows[positions, first][keep]].astype(np.float32)
            inliers = verify(source, target)
            if inliers >= INLIERS:
                results.append((int(slot), inliers))

        return results

    def load(self, path):
        """
        Loads a keypoint index saved by save().

        Args:
            path: directory
        """

        with np.load(os.path.join(path, "keypoints.npz")) as data:
            self.ids, self.starts, self.deleted, self.points = data["ids"], data["starts"], data["deleted"], data["points"]
            self.descriptors.load(os.path.join(path, "descriptors"), data["trained"])

        self.pending = []

    def save(self, path):
        """
        Saves the keypoint index: a directory with the faiss descriptor index and the keypoint arrays.

        Args:
            path: directory
        """

        # Descriptors.save() adds the pending descriptors
        self.flush()
        os.makedirs(path, exist_ok=True)
        self.descriptors.save(os.path.join(path, "descriptors"))
        np.savez(os.path.join(path, "keypoints.npz"), ids=self.ids, starts=self.starts, deleted=self.deleted, points=self.points, trained=self.descriptors.trained)

    def close(self):
        """
        Frees the descriptor index and its temporary file.
        """

        if self.descriptors and self.descriptors.spill:
            self.descriptors.spill.close()

        self.descriptors, self.detectors, self.pending = None, {}, []
