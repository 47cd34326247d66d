"""
Variants module: the hashes of one image that the robust index stores and its queries try: the raw hash, the hash
inside uniform borders or of a picture rotated on a canvas turned upright (trimmed), the hashes of centre zooms and
of centre cuts to other aspect ratios, and for queries the hashes of the 8 flips and rotations of the raw and trimmed
images.
"""

import numpy as np

from PIL import Image

from ..images import decode, draft
from .algorithms import bits, nbits, resolve, threshold
from .codec import tohex
from .combined import dihedral, square
from .trim import trim, unrotate

# Penalty of a flipped or rotated query hash, as a share of the hash bits
PENALTY = 0.1

# Largest side of the copy that non-combined algorithms hash the flips and rotations of
SMALL = 128

# Suffix of the row id of an image's trimmed hash in a robust index
TRIMMED = "#trimmed"

# Shares of the area kept by the centre zooms a robust index stores as rows of their own (row id "<id>#zoom<percent>"):
# a copy cropped from the centre of an image, keeping between about 45% and 90% of its area, hashes within reach of
# one of them. Steps of 0.8 of the area (0.89 of each side): the combined hash still matches a centre crop a tenth
# smaller or larger than the nearest zoom (measured on scikit-image's photos: one zoom at 0.64 finds 0.74 of the
# crops keeping 80% and 0.42 of those keeping 50%; the three find all of both).
ZOOMS = (0.8, 0.64, 0.51)

# Prefix of the suffix of the row id of a zoom
ZOOM = "#zoom"

# Aspect ratios (width / height) that pictures are commonly cut to from the centre of a larger one: wide screens,
# laptops, photo prints, classic screens, squares, and portrait prints and phones. Indexing stores the hash of the
# image's centre cut to each, so that a copy cut to one of them is within reach of a hash.
RATIOS = ("16:9", "16:10", "3:2", "4:3", "5:4", "1:1", "4:5", "3:4", "2:3", "9:16", "9:19.5")

# Grey levels within which the 3 x 3 neighbourhood of a hash thumbnail pixel is flat (see Variants.flatness)
LEVEL = 3

# Two aspect ratios closer than this share are the same
ASPECT = 0.03

# Longest side, in pixels, that JPEG files are decoded to at least (reduced-scale decoding for larger files: the
# hashes are computed from 32 x 32 thumbnails, keypoints from 512 pixels)
DECODE = 512

# The 7 flips and rotations besides the identity
TRANSPOSE = [
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
]


class Variants:
    """
    Hashes the variants of an image: the raw hash, the hash inside uniform borders, and for queries the hashes of the
    8 flips and rotations of both.
    """

    def __init__(self, algorithm="combined", size=8, trim=True, exif=True, penalty=None):
        """
        Creates a Variants hasher.

        Args:
            algorithm: hash algorithm name, combined by default
            size: hash size
            trim: also hash the region inside uniform borders (see txtai_imagehash.hashing.trim)
            exif: apply EXIF orientation before hashing
            penalty: bits added to the distances of flipped and rotated query hashes, defaults to PENALTY
                     (a share of the hash bits)
        """

        # Fail on a bad algorithm now, not on the first image
        resolve(algorithm)

        self.algorithm, self.size, self.trim, self.exif = algorithm, size, trim, exif
        self.penalty = penalty if penalty is not None else round(PENALTY * self.nbits())

    def __call__(self, image):
        """
        Hashes an image for indexing.

        Args:
            image: PIL image (already oriented)

        Returns:
            (raw hex hash, trimmed hex hash or None when there is no border or trimming is off)
        """

        image = self.grey(image)
        raw = tohex(self.hashes(image, None, False)[0])

        inner = self.inner(image)
        return raw, tohex(self.hashes(*inner, False)[0]) if inner else None

    def load(self, source):
        """
        Opens an image source as these variants hash it: JPEG files larger than DECODE pixels decoded at reduced
        scale, EXIF orientation (if set) and 8-bit pixels.

        Args:
            source: path, PIL image, bytes or binary file object

        Returns:
            PIL image
        """

        return decode(draft(source, longest=DECODE) or source, self.exif, normalize=True)

    def index(self, source):
        """
        Opens an image source and hashes it for indexing.

        Args:
            source: path, PIL image, bytes or binary file object

        Returns:
            (raw hex hash, trimmed hex hash or None), see __call__
        """

        return self(self.load(source))

    def dihedral(self, image):
        """
        Hashes the 7 flips and rotations of an image besides the image itself, for indexing: a copy of an indexed
        image that is flipped or rotated is within reach of one of them.

        Args:
            image: PIL image (already oriented)

        Returns:
            list of 7 hex hashes, in the order of txtai_imagehash.hashing.combined.TRANSFORMS
        """

        return [tohex(values) for values in self.hashes(self.grey(image), None, True)[1:]]

    def contrast(self, image):
        """
        Measures how much an image's hash can say: the standard deviation of the grey levels of the square thumbnail
        the combined hash is computed from. A flat image (a solid colour, a blank page) has a hash that matches every
        other flat image.

        Args:
            image: PIL image (already oriented)

        Returns:
            grey level standard deviation, rounded to 0.1
        """

        return round(float(square(self.grey(image).convert("L"), self.size).std()), 1)

    def flatness(self, image, box=None):
        """
        Measures how much of an image its hash says nothing about: the share of the square thumbnail the combined hash
        is computed from whose pixels lie in flat neighbourhoods (3 x 3 pixels within LEVEL grey levels). A picture
        that is mostly empty (a dark wallpaper with a pattern at one edge) shares most of its hash bits with every
        other mostly empty picture.

        Args:
            image: PIL image (already oriented)
            box: optional (left, top, right, bottom) region of the image to measure

        Returns:
            share of flat thumbnail pixels, rounded to 0.01
        """

        pixels = square(self.grey(image).convert("L"), self.size, box)
        windows = np.lib.stride_tricks.sliding_window_view(pixels, (3, 3))
        return round(float((windows.max(axis=(2, 3)) - windows.min(axis=(2, 3)) < LEVEL).mean()), 2)

    def zooms(self, image):
        """
        Hashes the centre of an image keeping each of the ZOOMS shares of its area, same aspect ratio, for indexing: a
        copy cropped from the middle of the image (a close-up of a photo) hashes close to the nearest of them.

        Args:
            image: PIL image (already oriented)

        Returns:
            {row id suffix (see zoom()): (hex hash, flatness of the zoom, see flatness())}
        """

        image = self.reduced(self.grey(image))
        output = {}
        for share in ZOOMS:
            side = share**0.5
            width, height = image.width * side, image.height * side
            left, top = (image.width - width) / 2, (image.height - height) / 2
            box = (left, top, left + width, top + height)
            output[zoom(share)] = (tohex(self.hashes(image, box, False)[0]), self.flatness(image, box))

        return output

    def reduced(self, image):
        """
        Reduces an image for the hashes of its parts (centre cuts and zooms), which are computed from thumbnails of a
        few dozen pixels.

        Args:
            image: PIL image

        Returns:
            PIL image
        """

        factor = max(1, min(image.size) // (8 * 4 * self.size))
        return image.reduce(factor) if factor > 1 else image

    def crops(self, image):
        """
        Hashes the centre of an image cut to each of the RATIOS other than its own, for indexing: a copy cut from the
        middle of the image to that aspect ratio (a phone wallpaper from a landscape picture, a 4:3 print of a 16:9
        photo) hashes close to it.

        Args:
            image: PIL image (already oriented)

        Returns:
            {ratio name: hex hash}
        """

        image, output = self.reduced(self.grey(image)), {}

        for name in RATIOS:
            box = centre(image.size, ratio(name))
            if box:
                output[name] = tohex(self.hashes(image, box, False)[0])

        return output

    def expand(self, image, dihedral=True):
        """
        Hashes a query image: raw and trimmed, each in its 8 flips and rotations. A flipped or rotated hash carries
        a penalty, added to its distances, so that an upright match ranks first when distances are close.

        Args:
            image: PIL image (already oriented)
            dihedral: expand to flips and rotations if True

        Returns:
            dict of distinct hex hash -> penalty in bits, the raw hash first
        """

        image = self.grey(image)
        hashes = [self.hashes(image, None, dihedral)]
        inner = self.inner(image)
        if inner:
            hashes.append(self.hashes(*inner, dihedral))

        queries = {}
        for group in hashes:
            for x, values in enumerate(group):
                value, penalty = tohex(values), self.penalty if x else 0
                queries[value] = min(penalty, queries.get(value, penalty))

        return queries

    def grey(self, image):
        """
        Converts an image to grey levels once for the combined hash, which hashes luminance only (other algorithms
        get the image as is).

        Args:
            image: PIL image

        Returns:
            PIL image
        """

        return image.convert("L") if self.algorithm == "combined" and image.mode != "L" else image

    def inner(self, image):
        """
        Finds the picture inside an image's border: a picture rotated on a uniform canvas, turned upright (see
        txtai_imagehash.hashing.trim.unrotate), or the region inside uniform borders.

        Args:
            image: PIL image

        Returns:
            (image, box): the upright picture and None, or the image and its (left, top, right, bottom) region
            inside the borders; None when trimming is off or there is no border
        """

        if not self.trim:
            return None

        upright = unrotate(image)
        if upright is not None:
            return upright, None

        box = trim(image)
        return (image, box) if box != (0, 0) + image.size else None

    def hashes(self, image, box, expand):
        """
        Computes the hash bits of an image region, optionally in its 8 flips and rotations.

        Args:
            image: PIL image
            box: region to hash, or None for the whole image
            expand: hash the 8 flips and rotations if True, otherwise only the region

        Returns:
            boolean array, one row of bits per hash
        """

        if self.algorithm == "combined":
            # One thumbnail, transformed 8 times
            pixels = square(image, self.size, box)
            return dihedral(pixels, self.size) if expand else dihedral(pixels, self.size)[:1]

        image = image.crop(box) if box else image
        values = [bits(image, self.algorithm, self.size)]
        if expand:
            # The other 7 transforms of a small copy
            small = image.copy()
            small.thumbnail((SMALL, SMALL))
            for method in TRANSPOSE:
                values.append(bits(small.transpose(method), self.algorithm, self.size))

        return np.stack(values)

    def nbits(self):
        """
        Number of bits in a hash of this algorithm and size.

        Returns:
            number of bits
        """

        return nbits(self.algorithm, self.size)

    def threshold(self):
        """
        Default maximum distance of a near-duplicate for this algorithm and size.

        Returns:
            number of bits
        """

        return threshold(self.algorithm, self.size)


def zoom(share):
    """
    Row id suffix of the zoom keeping a share of an image's area.

    Args:
        share: share of the area, one of ZOOMS

    Returns:
        suffix such as "#zoom64"
    """

    return f"{ZOOM}{round(share * 100)}"


def seconds(uid):
    """
    Row ids of the second rows a robust index may hold for an image: its trimmed hash and its zooms.

    Args:
        uid: image id

    Returns:
        list of row ids
    """

    return [f"{uid}{TRIMMED}"] + [f"{uid}{zoom(share)}" for share in ZOOMS]


def issecond(uid):
    """
    Checks if a row id is that of a second row of an image (its trimmed hash or a zoom), not of an image.

    Args:
        uid: row id

    Returns:
        True for a second row
    """

    return str(uid).endswith(TRIMMED) or iszoom(uid)


def iszoom(uid):
    """
    Checks if a row id is that of a zoom row of an image.

    Args:
        uid: row id

    Returns:
        True for a zoom row
    """

    uid = str(uid)
    return any(uid.endswith(zoom(share)) for share in ZOOMS)


def ratio(name):
    """
    Value of an aspect ratio name.

    Args:
        name: "width:height"

    Returns:
        width / height
    """

    width, height = name.split(":")
    return float(width) / float(height)


def centre(size, value):
    """
    The centre box of an image with an aspect ratio.

    Args:
        size: (width, height) of the image
        value: aspect ratio, width / height

    Returns:
        (left, top, right, bottom), or None when the image already has that aspect ratio
    """

    width, height = size
    if abs(width / height - value) <= ASPECT * value:
        return None

    if width / height > value:
        cut = width - height * value
        return (cut / 2, 0, width - cut / 2, height)

    cut = height - width / value
    return (0, cut / 2, width, height - cut / 2)
