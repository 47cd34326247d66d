"""
Graph module: the keypoint index of an Embeddings index, in txtai's graph slot. txtai hands it every indexed
document, and saves, loads, upserts and deletes it with the rest of the index. Query keypoints vote for the indexed
images that hold their nearest descriptors, and the images with the most votes are verified by an affine fit.
"""

import os

import numpy as np

from txtai.graph import Graph

from ..frames import Frame
from ..images import ImageError, decode, describe, draft, skip
from .descriptors import NPROBE, Descriptors
from .features import BITS, COUNT, LEVELS, QUERY, QUERYLEVELS, SIDE, Features, checkbits, cv2, matching
from .verify import INLIERS, fit

# Graph backend name of the keypoint index
BACKEND = "txtai_imagehash.keypoints.Keypoints"

# Neighbours searched per query descriptor
NEIGHBORS = 4

# Candidate images verified per query: the images with the most descriptor votes
CANDIDATES = 8

# Lowe's ratio: a match is kept when its distance is below this share of the next distance to the same image
RATIO = 0.8

# Pixels (of SIDE) within which the next neighbour is the same corner on another pyramid level: no competitor in
# the ratio test
NEAR = 3


def keypointconfig(**options):
    """
    Embeddings `graph` configuration of a keypoint index. Checks that OpenCV is installed and the descriptor bits.

    Args:
        options: Keypoints options: count, bits, exif, nprobe, paths

    Returns:
        dict
    """

    cv2()
    if "bits" in options:
        checkbits(options["bits"])

    return {"backend": BACKEND, **options}


class Keypoints(Graph):
    """
    Keypoint index of an Embeddings index, in txtai's graph slot: every indexed document with an image object gets
    its ORB keypoints and descriptors stored here, keyed by the document's index id. match() finds the indexed
    images a query image is a (possibly cropped, flipped, rotated or squashed) copy of.

    Configure with `"graph": {"backend": "txtai_imagehash.keypoints.Keypoints"}` and optionally `count` (keypoints
    per image, COUNT), `bits` (descriptor bits of a new index, BITS; a saved index keeps its own), `exif` (apply EXIF
    orientation, True), `nprobe` (NPROBE) and `paths` (read the image from the document's `path` field when it has no
    `object`, False). txtai_imagehash.build(images, keypoints=True) and
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
        self.descriptors = Descriptors(config.get("nprobe", NPROBE), config.get("bits", BITS))

        # Images inserted since the arrays were last consolidated: (index id, first row, positions)
        self.pending = []

        # Keypoints extracted elsewhere for documents about to be inserted, by document id (see prepare())
        self.prepared = {}

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

    def keypoints(self, indexids):
        """
        Number of keypoints stored for images.

        Args:
            indexids: index ids

        Returns:
            list of counts, 0 for images without keypoints (or deleted)
        """

        self.flush()
        ends = np.append(self.starts[1:], len(self.descriptors)).astype(np.int64)
        output = []
        for indexid in indexids:
            # Slots are in index id order (txtai assigns increasing ids); the last slot of an id is its current one
            slot = int(np.searchsorted(self.ids, int(indexid), side="right")) - 1
            valid = slot >= 0 and self.ids[slot] == int(indexid) and not self.deleted[slot]
            output.append(int(ends[slot] - self.starts[slot]) if valid else 0)

        return output

    def insert(self, documents, index=0):
        """
        Extracts and stores the keypoints of each document's image. Index ids are assigned as txtai assigns them:
        one per document with a text or object field.

        Args:
            documents: list of (id, data, tags)
            index: index id of the first document
        """

        for uid, document, _ in documents:
            if isinstance(document, dict):
                value, image = document.get(self.text, document.get(self.object)), document.get(self.object)
                image = document.get("path") if image is None and self.paths else image

                # A second row of an image (its hash inside a border) shares the image's keypoints
                image = None if document.get("image", uid) != uid else image
                # A further frame's row (documents(frames="all")): that frame of the file
                number = document.get("frame_number")
                image = Frame(image, number) if number and isinstance(image, str) else image
            else:
                value, image = document, None if isinstance(document, str) else document

            if value is None:
                continue

            if uid in self.prepared:
                self.append(index, *self.prepared.pop(uid))
            elif image is not None:
                self.add(index, image)

            index += 1

    def prepare(self, uid, points, codes):
        """
        Hands over the keypoints of a document that is about to be inserted, extracted elsewhere (e.g. in the worker
        process that hashed the image), so that insert() does not decode the image again.

        Args:
            uid: document id
            points: float32 array (n, 2) of keypoint positions
            codes: uint8 array (n, bits / 8) of descriptors
        """

        self.prepared[uid] = (points, codes)

    def add(self, indexid, image):
        """
        Adds the keypoints of one image. An image that cannot be decoded is logged and skipped.

        Args:
            indexid: index id
            image: PIL image, path, bytes or binary file object
        """

        image = self.read(image)
        if image is not None:
            self.append(indexid, *self.detector(self.keep)(image))

    def mirrored(self, image):
        """
        Detects the keypoints of an indexed image's mirror image (flipped left to right) as add() detects an indexed
        image's, to check a mirrored copy against stored keypoints (ORB descriptors are not mirror invariant).

        Args:
            image: PIL image, path, bytes or binary file object

        Returns:
            (points, descriptors, width of the frame the points are in), or None when the image cannot be decoded
        """

        image = self.read(image)
        if image is None:
            return None

        detector = self.detector(self.keep)
        points, codes = detector(image, mirror=True)[1]
        return points, codes, detector.frame(image.size)[0]

    def read(self, image):
        """
        Decodes an image for keypoint detection, as the index reads its images. An image that cannot be decoded is
        logged and skipped.

        Args:
            image: PIL image, path, bytes or binary file object

        Returns:
            PIL image, or None
        """

        try:
            # JPEG files decode at reduced scale: keypoints need SIDE pixels
            return decode(draft(image, grey=True, longest=SIDE) or image, self.exif, normalize=True, name=describe(image))
        except ImageError as error:
            skip(error)
            return None

    def append(self, indexid, points, codes):
        """
        Adds keypoints already extracted with Features.

        Args:
            indexid: index id
            points: float32 array (n, 2) of keypoint positions
            codes: uint8 array (n, bits / 8) of descriptors
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

    def detector(self, count, levels=LEVELS):
        """
        Gets the keypoint detector keeping count keypoints.

        Args:
            count: keypoints per image
            levels: pyramid levels

        Returns:
            Features
        """

        # Descriptors as long as the index's (a loaded index keeps the bits it was saved with)
        key = (count, levels, self.descriptors.bits)
        if key not in self.detectors:
            self.detectors[key] = Features(count, levels=levels, bits=self.descriptors.bits)

        return self.detectors[key]

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

        return [(indexid, found.inliers) for indexid, found, _ in self.fits(image, limit) if found.inliers >= INLIERS]

    def fits(self, image, limit=CANDIDATES):
        """
        Verifies the candidate images of a query, as match() does, and returns every fit, also those with fewer
        than INLIERS inliers.

        Args:
            image: PIL image, already oriented
            limit: candidate images verified per query mirror

        Returns:
            list of (index id, Fit, mirrored), the best fit of each candidate image over the image and its mirror
            image (mirrored is True when the mirror image fits best, the Fit then maps the mirror image's keypoint
            positions), most inliers first
        """

        self.flush()
        best = {}
        for mirrored, (points, codes) in enumerate(self.detector(QUERY, QUERYLEVELS)(image, mirror=True)):
            for slot, found in self.find(points, codes, limit):
                if slot not in best or found.inliers > best[slot][0].inliers:
                    best[slot] = (found, bool(mirrored))

        ranked = sorted(best.items(), key=lambda x: (-x[1][0].inliers, x[0]))
        return [(int(self.ids[slot]), found, mirrored) for slot, (found, mirrored) in ranked]

    def find(self, points, codes, limit):
        """
        Matches one set of query keypoints against the index: votes, then verification of the best candidates.

        Args:
            points: float32 array (n, 2) of query keypoint positions
            codes: uint8 array (n, bits / 8) of query descriptors
            limit: candidate images verified

        Returns:
            list of (slot, Fit) of the candidate images verified
        """

        if not len(codes) or not len(self.descriptors) or not len(self.ids):
            return []

        distances, rows = self.descriptors.search(codes, NEIGHBORS)
        slots = np.searchsorted(self.starts, np.maximum(rows, 0), side="right") - 1
        valid = (rows >= 0) & (distances <= matching(self.descriptors.bits)) & ~self.deleted[slots]

        # Votes: query keypoints with at least one of their neighbours in the image
        queries = np.broadcast_to(np.arange(len(codes))[:, None], rows.shape)
        voters = np.unique(queries[valid] * len(self.ids) + slots[valid])
        candidates, votes = np.unique(voters % len(self.ids), return_counts=True)
        order = np.argsort(-votes, kind="stable")[:limit]

        results, positions = [], np.arange(len(codes))
        neighbours = self.points[np.maximum(rows, 0)].astype(np.float32)
        for slot in candidates[order][votes[order] >= INLIERS]:
            # Nearest neighbour in this image, kept when clearly nearer than the next one in this image (Lowe) that
            # is not the same corner on another pyramid level
            own = valid & (slots == slot)
            first = own.argmax(axis=1)
            others = own & (np.abs(neighbours - neighbours[positions, first][:, None]).max(axis=2) > NEAR)
            second = others.argmax(axis=1)
            keep = own.any(axis=1) & (~others.any(axis=1) | (distances[positions, first] < RATIO * distances[positions, second]))

            source = points[keep]
            target = self.points[rows[positions, first][keep]].astype(np.float32)
            results.append((int(slot), fit(source, target)))

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
