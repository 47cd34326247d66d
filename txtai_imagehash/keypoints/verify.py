"""
Verify module: the geometric check of a keypoint match, an affine fit between matched keypoint positions.
"""

from typing import NamedTuple, Optional

import numpy as np

from .features import SIDE, cv2

# RANSAC reprojection threshold as a share of SIDE, and the distinct inlier keypoints that make a match
REPROJECTION = 0.01
INLIERS = 8

# Inliers a fit that turns the picture by a quarter or half turn needs where no flipped or rotated hash of the pair is
# near: a whole picture turned is found by its turned hash, so such a fit alone is a turned crop, rare in collections,
# and the fit that unrelated pictures of similar shapes give most often
TURNED = 3 * INLIERS

# Largest scale between a copy and its original, and largest ratio of the scales along two axes of an affine fit
SCALE = 8
SKEW = 2


class Fit(NamedTuple):
    """
    An affine fit: the distinct inlier keypoints and the transform from query keypoint positions to the indexed
    image's keypoint positions (both measured in the images resized for keypoints, see Features.frame). A tuple, so
    that `inliers, matrix = fit(...)` unpacks it.
    """

    # Distinct inlier keypoints, 0 when no plausible transform fits
    inliers: int

    # 2 x 3 affine matrix, None when no plausible transform fits or it has fewer than INLIERS inliers
    matrix: Optional[np.ndarray] = None

    def project(self, points):
        """
        Maps query positions through the fitted transform, e.g. the corners of the query to outline the region of
        the indexed image that it covers.

        Args:
            points: array (n, 2) of positions in the query's resized image

        Returns:
            float64 array (n, 2) of positions in the indexed image's resized image
        """

        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        return points @ self.matrix[:, :2].T + self.matrix[:, 2]


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

    return fit(source, target, side).inliers


def fit(source, target, side=SIDE):
    """
    Fits an affine transform from query keypoints to an indexed image's keypoints, as verify() does, and returns the
    transform too.

    Args:
        source: float32 array (n, 2) of query keypoint positions
        target: float32 array (n, 2) of the matched indexed keypoint positions
        side: image side the positions are measured in

    Returns:
        Fit: distinct inlier keypoints and the 2 x 3 affine matrix mapping source positions to target positions
        (None when no plausible transform fits or it has fewer than INLIERS inliers)
    """

    if len(source) < INLIERS:
        return Fit(0)

    # Same result for the same matches
    cv2().setRNGSeed(0)
    matrix, inliers = cv2().estimateAffine2D(source, target, method=cv2().RANSAC, ransacReprojThreshold=REPROJECTION * side, maxIters=2000, confidence=0.995)
    if matrix is None:
        return Fit(0)

    # A copy is not mirrored (mirror images are queried separately), nor collapsed to a line, nor stretched more
    # than SKEW times along one axis than the other, nor scaled beyond SCALE
    singular = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if np.linalg.det(matrix[:, :2]) <= 0 or singular[1] < 1 / SCALE or singular[0] > SCALE or singular[0] / singular[1] > SKEW:
        return Fit(0)

    inliers = inliers.reshape(-1).astype(bool)
    count = min(len(np.unique(source[inliers].round(), axis=0)), len(np.unique(target[inliers].round(), axis=0)))
    return Fit(count, matrix if count >= INLIERS else None)


def turned(matrix):
    """
    Checks if an affine fit turns the picture by about a quarter, half or three-quarter turn.

    Args:
        matrix: 2 x 3 affine matrix or None

    Returns:
        True for a quarter, half or three-quarter turn
    """

    if matrix is None:
        return False

    angle = np.degrees(np.arctan2(matrix[1][0], matrix[0][0])) % 360
    return min(abs(angle - turn) for turn in (90, 180, 270)) < 20
