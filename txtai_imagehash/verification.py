"""
Verification module: the one rule that search() and dedup() accept a near-duplicate by. A pair that the hash settles
by itself (identical bytes, or a distance within the strict threshold of its algorithm) is a match. A pair in the
gray zone (up to the algorithm's threshold) is a match only if keypoints agree, wherever the index has keypoints;
where keypoints cannot check (an image too smooth or too small to have enough of them) the hash is trusted a little
beyond the strict threshold, to the loose one. Keypoints that agree make a match whatever the hash distance
(crops). An index without keypoints trusts its hash up to the threshold. A hash says little of a mostly empty image
(sparse, see SPARSE): it is trusted only to the loose distance. The hash of a centre zoom (a second row of an image,
txtai_imagehash.hashing.variants.ZOOMS) is trusted only to ZOOMED of the threshold.
"""

from .hashing.algorithms import LOOSE, strict, threshold
from .keypoints.verify import INLIERS

# Keypoints an image needs for keypoints to check a pair: below, a failed fit says nothing
CHECKABLE = 4 * INLIERS

# Share of flat pixels in the hash thumbnail (txtai_imagehash.hashing.variants.Variants.flatness) above which an image
# is mostly empty. Mostly empty pictures share most hash bits: on mate-backgrounds, two dark wallpapers with a pattern
# at one edge (flatness 0.74) matched each other or a dark distractor at 23-35 bits. Photos measure at most 0.17
# (scikit-image), mate's pictures 0.74, 0.74, 0.64, 0.52, then at most 0.13.
SPARSE = 0.5

# Share of the threshold within which a zoom's hash is trusted. An image has three zooms, each showing less of it:
# they bring unrelated pictures closer. On mate-backgrounds the closest unrelated zoom matches were at 28 bits (a
# mostly empty picture, see SPARSE) and 34-36 (two striped wallpapers), against 0-10 for crops keeping 80% or 50%
# of the area and up to 24 for crops halfway between two zooms (scikit-image's photos).
ZOOMED = 2 / 3


class Rule:
    """
    Decides whether a pair of images is a near-duplicate from its evidence: hash distance and keypoint inliers.
    """

    def __init__(self, algorithm="average", size=8, keypoints=False, maxdistance=None):
        """
        Creates a Rule for an index's settings.

        Args:
            algorithm: hash algorithm
            size: hash size
            keypoints: True when the index has keypoints
            maxdistance: largest hash distance accepted (the gray zone's end), defaults to the algorithm's threshold
        """

        self.threshold = threshold(algorithm, size) if maxdistance is None else maxdistance
        self.strict = min(strict(algorithm, size), self.threshold)
        self.loose = min(strict(algorithm, size, LOOSE), self.threshold)
        self.zoomed = round(threshold(algorithm, size) * ZOOMED) if maxdistance is None else maxdistance
        self.keypoints = keypoints

    def reaches(self, distance, zoom=False):
        """
        Checks if a row's hash distance is within reach of a match: the threshold, or for a zoom row the zoomed
        distance.

        Args:
            distance: hash distance
            zoom: True for the distance of a zoom row

        Returns:
            True when the row can make a match
        """

        return distance <= (self.zoomed if zoom else self.threshold)

    def accept(self, distance, inliers=0, checkable=True, sparse=False, bits=None):
        """
        Decides a pair.

        Args:
            distance: smallest hash distance between the two images (flip penalty included), or None when the hashes
                      are not within reach
            inliers: keypoints matched under an affine fit, 0 when keypoints were not checked or did not fit
            checkable: False when either image has fewer than CHECKABLE keypoints
            sparse: True when either image is mostly empty (see issparse)
            bits: smallest hash distance without the flip penalty (a mirrored copy is 0 bits from its original but
                  carries the penalty), for the cap of a mostly empty pair; defaults to distance

        Returns:
            True for a near-duplicate
        """

        if inliers >= INLIERS:
            return True

        if distance is None or distance > self.threshold:
            return False

        trusted = (self.strict if checkable else self.loose) if self.keypoints else self.threshold
        if sparse:
            return (distance if bits is None else bits) <= min(trusted, self.loose)

        return distance <= trusted

    def settles(self, distance):
        """
        Checks if a hash distance decides a pair without keypoints: within the strict threshold, or beyond the gray
        zone (keypoints may still find a crop), or on an index without keypoints.

        Args:
            distance: hash distance or None

        Returns:
            True when no keypoint check can change the decision on this distance
        """

        return not self.keypoints or distance is None or distance <= self.strict or distance > self.threshold


def issparse(flatness):
    """
    Checks if an image is mostly empty, from its flatness: its hash says little.

    Args:
        flatness: share of flat hash thumbnail pixels (Variants.flatness), as a number or its text (PostgreSQL's
                  JSON fields), or None when unknown (an index built before it was stored)

    Returns:
        True for a mostly empty image
    """

    return flatness is not None and float(flatness) > SPARSE
