"""
Evidence module: what links two images. Hash distances between the stored hashes of the images (raw, inside uniform
borders, and the 7 flips and rotations of one against the other's), found without comparing all pairs; keypoint
matches verified by an affine fit; identical bytes.
"""

import hashlib

import numpy as np

from ..hashing.codec import words
from ..hashing.variants import PENALTY, ratio
from ..keypoints.verify import TURNED, turned
from ..verification import CHECKABLE, issparse
from .pairs import locate, pairs, popcount

# Code kinds: the raw hash, the hash inside borders, the 7 flips and rotations, the centre cut to other aspect ratios
RAW, TRIMMED, FLIPPED, CROP = 0, 1, 2, 3

# An image matches a centre cut to an aspect ratio when its own aspect ratio is this close (a share of it): phones and
# screens round their sizes differently
CUT = 0.05

# Search radius per 64-bit word of the hash pairs. A 64-bit hash is searched within RADIUS bits (the average
# hash's threshold). Longer hashes are searched word by word within WORDRADIUS bits: pairs of the combined
# hash within 3 x WORDRADIUS bits are all found (beyond the loose threshold, the farthest a hash alone accepts),
# further ones when one of its three words is this close (the gray zone beyond needs keypoints, which find their own
# candidates). Each bit more costs about 2-3x the tables and candidates: 8 bits per word took 6x the time of 6 on
# 20,000 images, for the same links
RADIUS, WORDRADIUS = 8, 6

# Images with less contrast than this (grey levels, standard deviation of the hash thumbnail) have hashes that say
# nothing: their hashes only match where the files are identical
FLAT = 2.0


class Link:
    """
    The evidence between two images: smallest hash distance and which hashes gave it, keypoint inliers and the
    affine fit from the first image to the second.
    """

    def __init__(self, distance=None, kind=RAW, inliers=0, matrix=None, complete=False, cut=None):
        """
        Creates a Link.

        Args:
            distance: smallest hash distance (flip penalty included) or None when not within reach
            kind: RAW, TRIMMED or FLIPPED: the hashes that gave the distance
            inliers: keypoints matched under an affine fit
            matrix: 2 x 3 affine fit mapping the first image's keypoint positions to the second's, or None
            complete: True once every hash of both images was compared (the distance is the smallest there is)
            cut: for a CROP distance, the image whose centre cut matched the other image
        """

        self.distance, self.kind, self.inliers, self.matrix, self.complete, self.cut = distance, kind, inliers, matrix, complete, cut


class Evidence:
    """
    Collects the evidence between the images of a de-duplication: hash pairs within the rule's threshold, keypoint
    matches, and on request the evidence between any two images.
    """

    def __init__(self, images, rule):
        """
        Creates an Evidence store.

        Args:
            images: txtai_imagehash.duplicates.sources.Images
            rule: txtai_imagehash.verification.Rule
        """

        self.images, self.rule = images, rule
        self.links = {}
        self.penalty = round(PENALTY * len(images.hashes[0]) * 4) if len(images) else 0
        self.digests, self.stored = {}, None

        # Every stored hash as 64-bit words, with its image, kind and (centre cuts) aspect ratio: raw hashes first, then
        # the others
        values, owners, kinds, ratios = list(images.hashes), list(range(len(images))), [RAW] * len(images), [0.0] * len(images)
        for x in range(len(images)):
            if images.trimmed[x] or images.variants[x] or images.crops[x]:
                hashes = ([images.trimmed[x]] if images.trimmed[x] else []) + images.variants[x] + list(images.crops[x].values())
                values.extend(hashes)
                owners.extend([x] * len(hashes))
                kinds.extend(([TRIMMED] if images.trimmed[x] else []) + [FLIPPED] * len(images.variants[x]) + [CROP] * len(images.crops[x]))
                ratios.extend([0.0] * (len(hashes) - len(images.crops[x])) + [ratio(name) for name in images.crops[x]])

        self.codes, self.nbits = words(values) if values else (np.zeros((0, 1), dtype=np.uint64), 0)
        self.owners, self.kinds = np.array(owners, dtype=np.int64), np.array(kinds, dtype=np.int8)
        self.ratios = np.array(ratios, dtype=np.float64)
        self.aspects = np.array([info.get("aspect") or 0.0 for info in images.info], dtype=np.float64)

        # Code rows of image x: its raw hash, and rows[starts[x]:starts[x + 1]] of the others
        order = np.argsort(self.owners, kind="stable")
        self.rows, self.starts = order, np.searchsorted(self.owners[order], np.arange(len(images) + 1))

    def hashes(self):
        """
        Finds every pair of images with hashes within the rule's threshold, without comparing all pairs: identical
        codes are merged first (a thousand copies of one picture cost nothing), the distinct codes are paired by
        multi-index hashing.
        """

        if not len(self.codes):
            return

        unique, first, inverse = np.unique(self.codes, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)

        # Rows with an identical code link to the first row of that code; distinct codes within the threshold link
        # their first rows. Two flips, rotations or cuts are never compared (see distances()): only pairs with an
        # image's own hash (raw or trimmed) are searched
        rows = np.arange(len(self.codes))
        a, b = [first[inverse[rows != first[inverse]]]], [rows[rows != first[inverse]]]
        if len(unique) > 1 and self.rule.threshold > 0:
            x, y = self.pairs(unique, self.kinds[first] <= TRIMMED)
            a.append(first[x])
            b.append(first[y])

        a, b = np.concatenate(a), np.concatenate(b)
        for key, link in self.distances(a, b, popcount(self.codes, a, b)).items():
            known = self.links.get(key)
            if known is None:
                self.links[key] = link
            elif known.distance is None or (link.distance, link.kind) < (known.distance, known.kind):
                known.distance, known.kind, known.cut = link.distance, link.kind, link.cut

    def pairs(self, unique, own):
        """
        Pairs of distinct codes within the rule's threshold. An index in PostgreSQL whose images only have their raw
        hashes finds them inside the database, exactly (txtai_imagehash.postgres.pairs); otherwise pairs() searches
        each 64-bit word (see RADIUS), for pairs with at least one code of the own ones.

        Args:
            unique: uint64 array (n, words) of distinct codes
            own: boolean array (n,), True for codes that are an image's own hash (raw or trimmed)

        Returns:
            (a, b) int arrays of rows of unique
        """

        finder = getattr(getattr(self.images.embeddings, "database", None), "pairs", None)
        if finder and len(self.codes) == len(self.images):
            return locate(unique, finder(self.rule.threshold))

        radius = RADIUS if unique.shape[1] == 1 else WORDRADIUS
        x, y, _ = pairs(unique, self.rule.threshold, self.nbits, radius, among=own if not own.all() else None)
        return x, y

    def distances(self, a, b, distances):
        """
        Turns Hamming distances between code rows into hash links between images: the smallest distance per pair of
        images, flip penalty included, within the rule's threshold.

        Args:
            a: code rows
            b: code rows
            distances: Hamming distances between them

        Returns:
            {(image, image): Link}
        """

        # Pairs of two images where at most one side is a flip, rotation or centre cut (those are compared to the other
        # image's own hashes), a centre cut only with an image of its aspect ratio
        ka, kb = self.kinds[a], self.kinds[b]
        flipped = (ka == FLIPPED) | (kb == FLIPPED)
        keep = (self.owners[a] != self.owners[b]) & ~((ka >= FLIPPED) & (kb >= FLIPPED))
        keep &= self.cut(a, b) & self.cut(b, a)
        distances = distances + self.penalty * flipped
        keep &= distances <= self.rule.threshold

        kinds = np.maximum(ka, kb)
        links = {}
        for x, y, distance, kind, first in zip(self.owners[a][keep].tolist(), self.owners[b][keep].tolist(), distances[keep].tolist(), kinds[keep].tolist(), (ka == CROP)[keep].tolist()):
            key = (min(x, y), max(x, y))
            if key not in links or (distance, kind) < (links[key].distance, links[key].kind):
                links[key] = Link(distance, kind, cut=(x if first else y) if kind == CROP else None)

        return links

    def cut(self, a, b):
        """
        Checks that centre cuts among code rows a are compared with raw hashes of images of their aspect ratio.

        Args:
            a: code rows
            b: code rows they are compared with

        Returns:
            boolean array, True where a is not a centre cut or b is a raw hash of an image of a's aspect ratio
        """

        aspects = self.aspects[self.owners[b]]
        return (self.kinds[a] != CROP) | ((self.kinds[b] == RAW) & (np.abs(aspects - self.ratios[a]) <= CUT * self.ratios[a]))

    def keypoints(self, workers=1, progress=False):
        """
        Adds keypoint matches between the images: every image's stored descriptors searched in the index, candidates
        verified by an affine fit (see txtai_imagehash.keypoints.pairs).

        Args:
            workers: processes verifying candidates
            progress: show a progress bar
        """

        stored = self.features()
        if stored is None:
            return

        images = {slot: x for x, slot in ((x, self.slot(x)) for x in range(len(self.images))) if slot is not None}

        # pylint: disable=C0415
        from ..keypoints.pairs import matches

        for a, b, inliers, matrix in matches(stored, sorted(images), workers, progress):
            if b in images:
                self.match(images[a], images[b], inliers, matrix)

    def mirrors(self):
        """
        Checks mirrored copies with keypoints: a pair that the hash finds only through a flip (a mirror image, or a
        rotation of it) and does not settle is compared again with the keypoints of the first image's mirror image,
        detected from its file, against the second's stored keypoints.
        """

        stored = self.features()
        if stored is None:
            return

        # pylint: disable=C0415
        from ..keypoints.pairs import compare

        for (x, y), link in self.links.items():
            if link.kind != FLIPPED or link.distance is None or link.distance > self.rule.threshold or self.accept(x, y, link):
                continue

            slots = [self.slot(x), self.slot(y)]
            features = stored.graph.mirrored(self.images.paths[x]) if None not in slots and self.images.paths[x] else None
            if features is not None:
                points, codes, width = features
                inliers, matrix = compare((points, codes), stored.features(slots[1]))
                if inliers > link.inliers:
                    # The fit maps mirrored positions: composed with the mirror, it maps x's positions to y's
                    mirror = np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
                    link.inliers, link.matrix = inliers, (np.vstack([matrix, [0.0, 0.0, 1.0]]) @ mirror)[:2]

    def match(self, x, y, inliers, matrix):
        """
        Adds a keypoint match from image x to image y, keeping the fit with the most inliers.

        Args:
            x: image
            y: image
            inliers: inlier keypoints
            matrix: affine fit from x's keypoint positions to y's
        """

        key = (min(x, y), max(x, y))
        link = self.links.setdefault(key, Link())
        if inliers > link.inliers:
            link.inliers, link.matrix = inliers, (matrix if x == key[0] else invert(matrix))

    def features(self):
        """
        Reads the stored keypoints of the index, once.

        Returns:
            txtai_imagehash.keypoints.pairs.Stored, or None when the index has no keypoints
        """

        if self.stored is None and self.rule.keypoints:
            # pylint: disable=C0415
            from ..keypoints.pairs import Stored

            self.stored = Stored(self.images.embeddings.graph)

        return self.stored

    def accepted(self):
        """
        Pairs of images the rule accepts.

        Returns:
            list of (x, y) with x < y
        """

        return [key for key, link in self.links.items() if self.accept(*key, link)]

    def accept(self, x, y, link):
        """
        Decides a pair by the rule, with the hash discounted for images whose hashes say nothing (flat images) unless
        their files are identical.

        Args:
            x: image
            y: image
            link: Link

        Returns:
            True for a near-duplicate
        """

        distance = link.distance
        if distance is not None and (self.flat(x) or self.flat(y)) and not self.identical(x, y):
            distance = None

        # A keypoint fit that turns the picture, without a hash that supports it, needs more inliers
        inliers = link.inliers
        if link.distance is None and inliers < TURNED and turned(link.matrix):
            inliers = 0

        # A flip's distance carries the penalty; a mostly empty pair is capped on its bits without it
        bits = distance - self.penalty if distance is not None and link.kind == FLIPPED else None
        return self.rule.accept(distance, inliers, self.checkable(x) and self.checkable(y), self.sparse(x) or self.sparse(y), bits)

    def checkable(self, x):
        """
        Checks if an image has enough keypoints for keypoints to check its pairs.

        Args:
            x: image

        Returns:
            True when a failed keypoint fit says the pair is not a match
        """

        slot = self.slot(x)
        return slot is not None and self.features().count(slot) >= CHECKABLE

    def slot(self, x):
        """
        Gets the slot of an image's keypoints.

        Args:
            x: image

        Returns:
            slot, or None when the index has no keypoints or the image none
        """

        stored = self.features()
        return stored.slot(self.images.indexids[x]) if stored is not None and self.images.indexids[x] is not None else None

    def get(self, x, y):
        """
        The evidence between two images: found before, else computed now (hash distance over every stored hash, and
        keypoints when the hash does not settle the pair).

        Args:
            x: image
            y: image

        Returns:
            Link with its matrix mapping x's positions to y's
        """

        key = (min(x, y), max(x, y))
        link = self.links.get(key)
        if link is None or not link.complete:
            link = self.links[key] = self.compute(*key, link)

        return link if x == key[0] else Link(link.distance, link.kind, link.inliers, invert(link.matrix), link.complete, link.cut)

    def compute(self, x, y, known=None):
        """
        Computes the evidence between two images: every pair of their hashes, and keypoints when the hash does not
        settle the pair and no keypoint match is known.

        Args:
            x: image
            y: image
            known: Link found before, or None

        Returns:
            Link from x to y
        """

        a, b = self.rows[self.starts[x] : self.starts[x + 1]], self.rows[self.starts[y] : self.starts[y + 1]]
        a, b = np.repeat(a, len(b)), np.tile(b, len(a))
        link = self.distances(a, b, popcount(self.codes, a, b)).get((x, y)) or Link()
        link.complete = True
        if known is not None and known.inliers:
            link.inliers, link.matrix = known.inliers, known.matrix
            return link

        stored = self.features()
        if stored is not None and not self.rule.settles(link.distance):
            slots = [self.slot(x), self.slot(y)]
            if None not in slots:
                # pylint: disable=C0415
                from ..keypoints.pairs import compare

                link.inliers, link.matrix = compare(stored.features(slots[0]), stored.features(slots[1]))

        return link

    def sparse(self, x):
        """
        Checks if an image is mostly empty: its hash says little (see txtai_imagehash.verification.issparse).

        Args:
            x: image

        Returns:
            True for a mostly empty image
        """

        return issparse(self.images.info[x].get("flatness"))

    def flat(self, x):
        """
        Checks if an image is too flat for its hash to mean anything.

        Args:
            x: image

        Returns:
            True for a flat image
        """

        contrast = self.images.info[x].get("contrast")
        return contrast is not None and contrast < FLAT

    def identical(self, x, y):
        """
        Checks if two images are identical files (same bytes).

        Args:
            x: image
            y: image

        Returns:
            True when both are files with the same bytes
        """

        info, paths = self.images.info, self.images.paths
        if not paths[x] or not paths[y] or info[x].get("bytes") != info[y].get("bytes"):
            return False

        return self.digest(paths[x]) is not None and self.digest(paths[x]) == self.digest(paths[y])

    def digest(self, path):
        """
        BLAKE2 digest of a file's bytes, read once.

        Args:
            path: file path

        Returns:
            hex digest, or None when the file cannot be read
        """

        if path not in self.digests:
            try:
                value = hashlib.blake2b()
                with open(path, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        value.update(block)
                self.digests[path] = value.hexdigest()
            except OSError:
                self.digests[path] = None

        return self.digests[path]


def invert(matrix):
    """
    Inverts a 2 x 3 affine matrix.

    Args:
        matrix: 2 x 3 array or None

    Returns:
        2 x 3 array or None
    """

    if matrix is None:
        return None

    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]
