"""
Combined module: the combined hash, horizontal difference + vertical difference + perceptual bits of one small grey
thumbnail, and its dihedral expansion (the hashes of the 8 flips and rotations of that thumbnail).
"""

import numpy as np

from imagehash import ImageHash
from PIL import Image
from scipy.fft import dct

# The 8 flips and rotations of a square as (transpose, flip left-right, flip up-down), applied in that order
TRANSFORMS = [(t, x, y) for t in (False, True) for x in (False, True) for y in (False, True)]


def transform(pixels, index):
    """
    Applies one of the 8 flips and rotations of TRANSFORMS to a 2D array.

    Args:
        pixels: 2D array
        index: index into TRANSFORMS

    Returns:
        transformed array
    """

    transpose, flipx, flipy = TRANSFORMS[index]
    pixels = pixels.T if transpose else pixels
    pixels = pixels[:, ::-1] if flipx else pixels
    return pixels[::-1] if flipy else pixels


def square(image, size=8, box=None):
    """
    Reduces an image to the grey square thumbnail the combined hash is computed from: luminance, resized to
    (4 * size) x (4 * size) pixels with Lanczos resampling, as imagehash.phash does. Any aspect ratio is squashed
    to a square, so a rotation by 90 degrees of the image is a rotation by 90 degrees of the thumbnail.

    Args:
        image: PIL image
        size: hash size
        box: optional (left, top, right, bottom) region of the image to reduce, e.g. a trimmed region

    Returns:
        float64 numpy array of shape (4 * size, 4 * size)
    """

    grey = image if image.mode == "L" else image.convert("L")
    side = 4 * size
    return np.asarray(grey.resize((side, side), Image.Resampling.LANCZOS, box=box), dtype=np.float64)


def hashbits(pixels, size=8):
    """
    Computes the combined hash bits of a thumbnail: 3 * size * size bits.

    - horizontal difference: the thumbnail box-averaged to size rows x (size + 1) columns, 1 where a cell is
      brighter than its right neighbour
    - vertical difference: the same along columns, size + 1 rows x size columns, 1 where a cell is brighter than
      the one below it
    - perceptual: the 2D DCT-II of the thumbnail, its size x size lowest frequencies above their median (the
      bits of imagehash.phash when the thumbnail is the Lanczos reduction of the whole image)

    Args:
        pixels: square float array from square()
        size: hash size

    Returns:
        flat boolean numpy array of 3 * size * size bits
    """

    return tobits(*features(pixels, size))


def features(pixels, size):
    """
    Reduces a thumbnail to the three arrays its hash bits compare.

    Args:
        pixels: square float array from square()
        size: hash size

    Returns:
        (horizontal grid, vertical grid, low frequency DCT coefficients)
    """

    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    horizontal = np.asarray(image.resize((size + 1, size), Image.Resampling.BOX), dtype=np.float64)
    vertical = np.asarray(image.resize((size, size + 1), Image.Resampling.BOX), dtype=np.float64)
    frequencies = dct(dct(pixels, axis=0), axis=1)[:size, :size]

    return horizontal, vertical, frequencies


def tobits(horizontal, vertical, frequencies):
    """
    Compares the arrays of features() into hash bits, for one thumbnail or a batch (leading dimension).

    Args:
        horizontal: size x (size + 1) grid, or a batch of them
        vertical: (size + 1) x size grid, or a batch of them
        frequencies: size x size low frequency DCT coefficients, or a batch of them

    Returns:
        flat boolean numpy array, or one row per batch element
    """

    batch = horizontal.shape[:-2]
    frequencies = frequencies.reshape(batch + (-1,))

    # Median as numpy computes it, without its per call overhead
    values = np.sort(frequencies, axis=-1)
    middle = values.shape[-1] // 2
    median = values[..., middle] if values.shape[-1] % 2 else (values[..., middle - 1] + values[..., middle]) / 2

    return np.concatenate(
        [
            (horizontal[..., :, :-1] > horizontal[..., :, 1:]).reshape(batch + (-1,)),
            (vertical[..., :-1, :] > vertical[..., 1:, :]).reshape(batch + (-1,)),
            frequencies > median[..., None],
        ],
        axis=-1,
    )


def combined(image, size=8):
    """
    Combined hash algorithm: horizontal difference, vertical difference and perceptual bits of one grey thumbnail,
    3 * size * size bits (192 for size 8). Registered as "combined" in txtai_imagehash.algorithms.

    Args:
        image: PIL image
        size: hash size

    Returns:
        imagehash.ImageHash with a (3 * size) x size boolean `hash` array
    """

    return ImageHash(hashbits(square(image, size), size).reshape(3 * size, size))


def dihedral(pixels, size=8):
    """
    Computes the combined hash bits of the 8 flips and rotations of a thumbnail, in the order of DIHEDRAL (the
    identity first). The thumbnail is reduced once: a flip reverses the grids and changes the sign of the odd
    DCT frequencies along its axis, a transpose swaps and transposes the grids and transposes the DCT.

    Args:
        pixels: square float array from square()
        size: hash size

    Returns:
        boolean array of shape (8, 3 * size * size)
    """

    horizontal, vertical, frequencies = features(pixels, size)
    signs = np.where(np.arange(size) % 2, -1.0, 1.0)

    grids = ([], [], [])
    for transpose, flipx, flipy in TRANSFORMS:
        h, v, f = (vertical.T, horizontal.T, frequencies.T) if transpose else (horizontal, vertical, frequencies)
        if flipx:
            h, v, f = h[:, ::-1], v[:, ::-1], f * signs[None, :]
        if flipy:
            h, v, f = h[::-1], v[::-1], f * signs[:, None]

        for values, grid in zip(grids, (h, v, f)):
            values.append(grid)

    # Bits of the 8 transforms in one batch
    return tobits(*(np.stack(values) for values in grids))
