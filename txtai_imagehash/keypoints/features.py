"""
Features module: ORB keypoints of an image, spread over a grid so that any crop keeps some, and their binary
descriptors (the first BITS of ORB's 256). OpenCV comes with the `keypoints` extra.
"""

import numpy as np

from PIL import Image

# Longest side, in pixels, an image is resized to before keypoints are detected
SIDE = 512

# Keypoints kept per indexed image and per query image (the query adds as many from its mirror image)
COUNT = 256
QUERY = 300

# Grid of cells the kept keypoints are spread over, so that any crop keeps some
GRID = 8

# Pyramid levels (scale factor 1.2) of indexed images and of queries. A crop is a magnified part of its original,
# so its matching keypoints lie on coarser levels of its pyramid: queries search more levels
LEVELS = 8
QUERYLEVELS = 12

# Largest contrast stretch: grey levels between the 1st and 99th percentile are stretched to the full range, by at
# most this factor, so that FAST's fixed threshold finds corners in hazy, dark or low-contrast pictures
GAIN = 8

# Descriptor bits kept per keypoint: the first 128 of ORB's 256. ORB's binary tests were selected greedily, most
# telling and least correlated first, so the first half keeps most of the matching: on the accuracy harness's real
# photos stage 2 found as many originals with 128 bits as with 256 (one more of 408 on mate-backgrounds, one fewer of
# 323 on scikit-image's photos, no false match), at 0.77x the peak memory and 0.72x the match time at 100k images
BITS = 128

# Largest Hamming distance between matching descriptors, as a share of their bits (32 of 128, 64 of 256)
MATCH = 1 / 4

# FAST thresholds, strongest first. Corners of the first are kept; a smooth picture that has fewer than the kept
# count is filled up with the new corners of the next thresholds, so that its crops still share keypoints with it
THRESHOLDS = (10, 5)


def checkbits(bits):
    """
    Checks a number of descriptor bits: a whole number of 64-bit words of ORB's 256.

    Args:
        bits: descriptor bits

    Returns:
        bits

    Raises:
        ValueError: for any other value
    """

    if bits not in (64, 128, 192, 256):
        raise ValueError(f"Keypoint descriptors keep 64, 128, 192 or 256 bits, not {bits!r}")

    return bits


def matching(bits):
    """
    Largest Hamming distance between two matching descriptors of a number of bits.

    Args:
        bits: descriptor bits

    Returns:
        bits
    """

    return round(MATCH * bits)


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


def available():
    """
    Checks if OpenCV (the `keypoints` extra) is installed.

    Returns:
        True if keypoints can be extracted
    """

    try:
        cv2()
        return True
    except ImportError:
        return False


class Features:
    """
    Detects ORB keypoints of an image, spread over a grid, and computes their binary descriptors.
    """

    def __init__(self, count=COUNT, side=SIDE, grid=GRID, levels=LEVELS, bits=BITS):
        """
        Creates a keypoint detector.

        Args:
            count: number of keypoints kept
            side: longest side the image is resized to
            grid: the kept keypoints are spread over grid x grid cells
            levels: pyramid levels keypoints are detected on
            bits: descriptor bits kept, a multiple of 64 up to 256 (see BITS)
        """

        self.count, self.side, self.grid, self.bits = count, side, grid, checkbits(bits)
        self.orbs = [
            cv2().ORB_create(nfeatures=4 * count, scaleFactor=1.2, nlevels=levels, edgeThreshold=15, patchSize=31, fastThreshold=threshold)
            for threshold in THRESHOLDS
        ]

        # Descriptors do not depend on the FAST threshold
        self.orb = self.orbs[0]

    def __call__(self, image, mirror=False):
        """
        Detects keypoints.

        Args:
            image: PIL image
            mirror: also return the keypoints of the image's mirror image (flipped left to right)

        Returns:
            (points, descriptors): float32 array (n, 2) of x, y positions in the resized image, uint8 array
            (n, bits / 8); with mirror, a list of two such pairs: the image's, then its mirror image's
        """

        pixels = self.pixels(image)
        keypoints = self.detect(pixels)
        if not mirror:
            return self.describe(pixels, keypoints)

        # FAST corners and their responses are symmetric: the mirror image's keypoints are the mirrored keypoints
        width = pixels.shape[1]
        mirrored = [cv2().KeyPoint(width - 1 - k.pt[0], k.pt[1], k.size, (180 - k.angle) % 360, k.response, k.octave) for k in keypoints]
        return [self.describe(pixels, keypoints), self.describe(np.ascontiguousarray(pixels[:, ::-1]), mirrored)]

    def detect(self, pixels):
        """
        Detects up to self.count keypoints, spread over the grid. Keypoints of the strongest FAST threshold come
        first; while fewer were found than self.count, the new corners of each lower threshold fill the places left.
        A picture with enough corners gets exactly the keypoints of the first threshold.

        Args:
            pixels: grey uint8 array

        Returns:
            list of cv2.KeyPoint
        """

        keypoints = list(self.spread(self.orbs[0].detect(pixels, None), self.count))
        for orb in self.orbs[1:]:
            if len(keypoints) >= self.count:
                break

            # Corners already kept are found again at a lower threshold: add only new ones
            seen = {(k.pt, k.octave) for k in keypoints}
            extra = [k for k in orb.detect(pixels, None) if (k.pt, k.octave) not in seen]
            keypoints = keypoints + self.spread(extra, self.count - len(keypoints))

        return keypoints

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
            return np.zeros((0, 2), dtype=np.float32), np.zeros((0, self.bits // 8), dtype=np.uint8)

        return np.array([k.pt for k in keypoints], dtype=np.float32), np.ascontiguousarray(descriptors[:, : self.bits // 8])

    def frame(self, size):
        """
        Size of the grey array that keypoints are detected in, for an image size: positions are measured in it.

        Args:
            size: (width, height) of the image

        Returns:
            (width, height)
        """

        scale = self.side / max(size)
        return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))

    def pixels(self, image):
        """
        Converts an image to the grey array keypoints are detected in: its longest side resized to self.side, its
        contrast stretched (see GAIN). A stretch maps grey levels in order, so binary descriptors, which compare
        intensities, barely change: an indexed image and its copy stretched differently still match.

        Args:
            image: PIL image

        Returns:
            uint8 array
        """

        grey = image if image.mode == "L" else image.convert("L")
        size = self.frame(grey.size)
        pixels = np.asarray(grey.resize(size, Image.Resampling.BILINEAR if self.side < max(grey.size) else Image.Resampling.BICUBIC))

        low, high = np.percentile(pixels, [1, 99])
        factor = min(GAIN, 255 / max(high - low, 1))
        if factor > 1:
            pixels = np.clip((pixels - low) * factor + 0.5, 0, 255).astype(np.uint8)

        return pixels

    def spread(self, keypoints, count):
        """
        Keeps the strongest count keypoints, taken in turn from each grid cell.

        Args:
            keypoints: list of cv2.KeyPoint
            count: number of keypoints kept

        Returns:
            list of cv2.KeyPoint
        """

        if len(keypoints) <= count:
            return keypoints

        points = np.array([k.pt for k in keypoints])
        cells = np.floor(points / (self.side / self.grid + 1e-6)).astype(np.int64)
        cell = cells[:, 1] * self.grid + cells[:, 0]

        # Rank of each keypoint within its cell by response, then keep by rank: every cell's best first
        order = np.lexsort((-np.array([k.response for k in keypoints]), cell))
        ranks = np.empty(len(order), dtype=np.int64)
        starts = np.searchsorted(cell[order], cell[order], side="left")
        ranks[order] = np.arange(len(order)) - starts
        keep = np.lexsort((cell, ranks))[:count]
        return [keypoints[x] for x in sorted(keep)]
