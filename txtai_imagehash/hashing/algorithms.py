"""
Algorithms module: the image hash algorithms, name -> function(image, size) -> bits, computed exactly as
txtai.pipeline.ImageHash computes them, and the distance under which two hashes of an algorithm are near-duplicates.
"""

import functools

import imagehash
import numpy as np

from PIL import Image

from ..images import decode
from .combined import combined

# Hash algorithms of txtai.pipeline.ImageHash, computed by the imagehash library exactly as txtai does
ALGORITHMS = {
    "average": imagehash.average_hash,
    "perceptual": imagehash.phash,
    "difference": imagehash.dhash,
    "wavelet": imagehash.whash,
    "color": imagehash.colorhash,
    # Not in txtai: horizontal difference + vertical difference + perceptual bits, 3 x 64 bits for size 8
    "combined": combined,
}


def names():
    """
    Lists the available hash algorithms.

    Returns:
        list of algorithm names
    """

    return list(ALGORITHMS)


def resolve(algorithm):
    """
    Looks up a hash algorithm by name.

    Args:
        algorithm: algorithm name

    Returns:
        function(image, size) -> imagehash.ImageHash
    """

    if algorithm not in ALGORITHMS:
        raise ValueError(f"Unknown hash algorithm {algorithm!r}: expected one of {', '.join(ALGORITHMS)}")

    return ALGORITHMS[algorithm]


def bits(image, algorithm="average", size=8):
    """
    Computes the bits of an image hash.

    Args:
        image: PIL image
        algorithm: algorithm name
        size: hash size

    Returns:
        flat boolean numpy array
    """

    return np.asarray(resolve(algorithm)(image, size).hash, dtype=bool).reshape(-1)


@functools.lru_cache(maxsize=None)
def nbits(algorithm="average", size=8):
    """
    Number of bits in a hash of an algorithm and size, measured once on a small gradient image so that any
    registered algorithm works.

    Args:
        algorithm: algorithm name
        size: hash size

    Returns:
        number of bits
    """

    gradient = np.add.outer(np.arange(64), np.arange(64)).astype(np.uint8) * 2
    return len(bits(Image.fromarray(gradient).convert("RGB"), algorithm, size))


def imagebits(source, algorithm="average", size=8, exif=False, normalize=False):
    """
    Opens an image source and computes the bits of its hash, as txtai_imagehash.ImageHash does.

    Args:
        source: path, PIL image, bytes or binary file object
        algorithm: algorithm name
        size: hash size
        exif: apply the EXIF orientation first
        normalize: convert to 8-bit pixels first (see txtai_imagehash.images.convert)

    Returns:
        flat boolean numpy array
    """

    return bits(decode(source, exif, normalize=normalize), algorithm, size)


# Default maximum distance of a near-duplicate per algorithm (hash size 8), in bits, flip/rotation penalty
# included. Calibrated with benchmarks/accuracy.py (19 scikit-image photos x 17 attacks, 24 distractors): at or a
# margin below the largest threshold that kept pairwise precision >= 0.99 there (combined 51, average 8, perceptual
# 16, difference 3, wavelet 5), as a larger collection brings unrelated pairs closer (average's 8 has no margin: it
# must admit a flipped match, 6 bits of penalty, and its closest unrelated pair was at 8). The color hash does not
# separate near-duplicates from unrelated images (precision 0.28 at distance 0): its threshold only admits
# identical hashes. Larger hash sizes scale by the number of bits.
THRESHOLDS = {
    "combined": 36,
    "average": 8,
    "perceptual": 12,
    "difference": 2,
    "wavelet": 4,
    "color": 0,
}


def threshold(algorithm="average", size=8):
    """
    Default maximum distance of a near-duplicate for an algorithm and size (see THRESHOLDS).

    Args:
        algorithm: algorithm name
        size: hash size

    Returns:
        number of bits
    """

    base = 3 * 64 if algorithm == "combined" else 64
    return round(THRESHOLDS.get(algorithm, 0.1 * base) * nbits(algorithm, size) / base)


# Distances of the gray zone, in bits at hash size 8. Within STRICT a hash settles a near-duplicate by itself. Beyond
# it, up to THRESHOLDS, a pair is a match only where keypoints agree, except that up to LOOSE the hash is trusted
# where keypoints cannot check (an image too smooth or too small for keypoints). An index without keypoints trusts
# its hash up to THRESHOLDS. Calibrated on scikit-image's photos and mate-backgrounds (benchmarks/dedup.py): the
# closest unrelated pair of combined hashes was 19 bits apart (two smooth abstract wallpapers without keypoints).
STRICT = {
    "combined": 12,
    "average": 2,
    "perceptual": 4,
    "difference": 1,
    "wavelet": 1,
    "color": 0,
}

LOOSE = {
    "combined": 16,
    "average": 3,
    "perceptual": 6,
    "difference": 1,
    "wavelet": 2,
    "color": 0,
}


def strict(algorithm="average", size=8, table=None):
    """
    Distance within which a hash alone settles a near-duplicate, for an algorithm and size (see STRICT), or within
    which it is trusted where keypoints cannot check (table=LOOSE).

    Args:
        algorithm: algorithm name
        size: hash size
        table: STRICT (default) or LOOSE

    Returns:
        number of bits
    """

    table = STRICT if table is None else table
    base = 3 * 64 if algorithm == "combined" else 64
    return round(table.get(algorithm, 0.02 * base) * nbits(algorithm, size) / base)
