"""
Trim module: finds the region of an image inside a uniform border (a frame, padding, a flat caption bar).
"""

import numpy as np

# Largest side of the grey copy that borders are detected on
DETECT = 256


def trim(image, tolerance=24, fraction=0.9, limit=0.3):
    """
    Finds the region of an image inside its uniform borders. From each side, edge lines are stripped while at least
    `fraction` of their pixels are within `tolerance` grey levels of the outermost line (its median), at most
    `limit` of the image per side.

    Args:
        image: PIL image
        tolerance: grey levels a border pixel may differ from the outermost line
        fraction: share of a line's pixels that must be within tolerance for the line to be border
        limit: largest share of the width or height stripped per side

    Returns:
        (left, top, right, bottom) box in image coordinates, the whole image when there is no border
    """

    width, height = image.size
    grey = image if image.mode == "L" else image.convert("L")

    # Detect on a reduced copy of large images, then scale the box back
    factor = max(1, max(width, height) // DETECT)
    if factor > 1:
        grey = grey.reduce(factor)

    pixels = np.asarray(grey, dtype=np.int16)
    rows, columns = pixels.shape

    top = strip(pixels, tolerance, fraction, limit)
    bottom = strip(pixels[::-1], tolerance, fraction, limit)
    left = strip(pixels.T, tolerance, fraction, limit)
    right = strip(pixels.T[::-1], tolerance, fraction, limit)

    # Nothing left (a flat image): keep the whole image
    if top + bottom >= rows or left + right >= columns:
        return (0, 0, width, height)

    # Scale back to image coordinates
    sx, sy = width / columns, height / rows
    return (round(left * sx), round(top * sy), width - round(right * sx), height - round(bottom * sy))


def strip(pixels, tolerance, fraction, limit):
    """
    Counts the uniform border lines at the start of an array of lines.

    Args:
        pixels: 2D array, one line per row, the outermost line first
        tolerance: grey levels a border pixel may differ from the outermost line
        fraction: share of a line's pixels that must be within tolerance
        limit: largest share of the lines stripped

    Returns:
        number of border lines
    """

    count = int(len(pixels) * limit)
    if not count:
        return 0

    reference = np.median(pixels[0])
    uniform = (np.abs(pixels[:count] - reference) <= tolerance).mean(axis=1) >= fraction

    # First line that is not border, or all of them up to the limit
    stop = np.flatnonzero(~uniform)
    return int(stop[0]) if len(stop) else count
