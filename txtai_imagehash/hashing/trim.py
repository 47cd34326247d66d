"""
Trim module: finds the region of an image inside a uniform border (a frame, padding, a flat caption bar), and a
picture rotated on a uniform canvas.
"""

import numpy as np

from PIL import Image
from scipy.spatial import ConvexHull, QhullError

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


def unrotate(image, tolerance=24, fraction=0.9, smallest=1.0, largest=44.0):
    """
    Finds a picture rotated on a uniform canvas (a copy rotated with its canvas expanded, its corners filled with
    one colour) and turns it back upright. The picture is the minimum-area rectangle around the pixels that differ
    from the canvas corners' colour; it is accepted when the four corners share one colour, the rectangle lies inside
    the canvas, is tilted by `smallest` to `largest` degrees, at least `fraction` of the pixels outside it are
    canvas and half of those inside it are not (a dark silhouette on a light ground keeps its holes).

    Args:
        image: PIL image
        tolerance: grey levels a canvas pixel may differ from the corners' colour
        fraction: share of the pixels outside the rectangle that must be canvas
        smallest: smallest tilt in degrees (below, trim() handles the border)
        largest: largest tilt in degrees

    Returns:
        upright PIL image of the picture (the image's mode), or None when the image is not a rotated picture on a
        canvas
    """

    grey = image if image.mode == "L" else image.convert("L")
    width, height = grey.size
    factor = max(1, max(width, height) // DETECT)
    pixels = np.asarray(grey.reduce(factor) if factor > 1 else grey, dtype=np.int16)
    rows, columns = pixels.shape

    corners = np.array([pixels[0, 0], pixels[0, -1], pixels[-1, 0], pixels[-1, -1]])
    canvas = np.median(corners)
    if min(rows, columns) < 16 or np.abs(corners - canvas).max() > tolerance:
        return None

    content = np.abs(pixels - canvas) > tolerance
    if content.mean() < 0.25:
        return None

    fit = rectangle(content, fraction)
    if not fit:
        return None

    angle, centre, size = fit
    if not smallest <= abs(angle) <= largest:
        return None

    # Turn the picture upright about its centre, in image coordinates, and cut it out a little inside its edges
    scale = np.array([width / columns, height / rows])
    (x, y), (w, h) = centre * scale, np.maximum(size * scale - 2 * factor - 2, 1)
    upright = image.rotate(angle, Image.Resampling.BICUBIC, center=(x, y), fillcolor=image.getpixel((0, 0)))
    return upright.crop((round(x - w / 2), round(y - h / 2), round(x + w / 2), round(y + h / 2)))


def rectangle(content, fraction=0.9):
    """
    Fits the minimum-area rectangle around the content pixels of a mask (rotating calipers over their convex hull)
    and checks that it is a picture on a canvas (see unrotate).

    Args:
        content: boolean array, True where a pixel is not canvas
        fraction: share of the pixels outside the rectangle that must be canvas

    Returns:
        (angle in degrees, counter-clockwise, centre (x, y), size (width, height) upright), or None
    """

    rows, columns = content.shape

    # The hull of the outermost content pixel of every row is the hull of all of them
    lines = np.flatnonzero(content.any(axis=1))
    first, last = content[lines].argmax(axis=1), columns - 1 - content[lines, ::-1].argmax(axis=1)
    points = np.concatenate([np.stack([first, lines], axis=1), np.stack([last, lines], axis=1)]).astype(np.float64)
    try:
        hull = points[ConvexHull(points).vertices]
    except QhullError:
        return None

    # One side of the minimum-area rectangle lies along an edge of the hull
    edges = np.diff(np.vstack([hull, hull[:1]]), axis=0)
    best = None
    for theta in np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2)):
        turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
        turned = hull @ turn
        low, high = turned.min(axis=0), turned.max(axis=0)
        if best is None or np.prod(high - low) < best[0]:
            best = (np.prod(high - low), theta, turn, low, high)

    _, theta, turn, low, high = best

    # Inside the canvas, canvas around it, picture within it
    corners = np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]], [low[0], high[1]]]) @ turn.T
    if (corners < -2).any() or (corners[:, 0] > columns + 1).any() or (corners[:, 1] > rows + 1).any():
        return None

    y, x = np.mgrid[0:rows, 0:columns]
    turned = np.stack([x.ravel(), y.ravel()], axis=1) @ turn
    inside = ((turned >= low - 1) & (turned <= high + 1)).all(axis=1).reshape(rows, columns)
    if (~inside).mean() < 0.02 or content[~inside].mean() > 1 - fraction or content[inside].mean() < 0.5:
        return None

    # The rectangle's sides as width and height of the upright picture: the angle of its nearest-horizontal side
    size = high - low
    angle = np.degrees(theta)
    if angle > 45:
        angle, size = angle - 90, size[::-1]

    # Positive angles in image coordinates (y down) are clockwise tilts: PIL's rotate(angle) turns them back
    return float(angle), ((low + high) / 2) @ turn.T, size
