"""
ImageHash module: a txtai pipeline that generates perceptual image hashes.
"""

import numpy as np

from txtai.pipeline import Pipeline

from .checks import hashsize
from .hashing.algorithms import imagebits, resolve
from .hashing.codec import tohex


class ImageHash(Pipeline):
    """
    Generates perceptual image hashes: the same arguments and outputs as txtai.pipeline.ImageHash, bit for bit,
    for any image source (path, pathlib path, PIL image, bytes, binary file object).
    """

    def __init__(self, algorithm="average", size=8, strings=True, exif=False, normalize=False):
        """
        Creates an ImageHash pipeline.

        Args:
            algorithm: image hashing algorithm (average, perceptual, difference, wavelet, color)
            size: hash size, see txtai_imagehash.checks.SIZES (2 to 64 for average hashes)
            strings: outputs hex strings if True (default), otherwise numpy float32 arrays of bits
            exif: apply EXIF orientation before hashing; False (default) matches txtai.pipeline.ImageHash
            normalize: hash 8-bit pixels with transparency composited on white (see images.convert); False
                       (default) hashes the stored pixels as txtai.pipeline.ImageHash does
        """

        # Fail on a bad algorithm or size now, not on the first image
        resolve(algorithm)
        hashsize(algorithm, size)

        self.algorithm = algorithm
        self.size = size
        self.strings = strings
        self.exif = exif
        self.normalize = normalize

    def __call__(self, images):
        """
        Generates perceptual image hashes.

        Args:
            images: image|list, where an image is a path, PIL image, bytes or binary file object

        Returns:
            hash for a single image, list of hashes for a list
        """

        values = images if isinstance(images, list) else [images]
        hashes = [self.ihash(image) for image in values]
        return hashes if isinstance(images, list) else hashes[0]

    def ihash(self, image):
        """
        Gets the hash of one image.

        Args:
            image: path, PIL image, bytes or binary file object

        Returns:
            hex string or numpy float32 array, depending on strings
        """

        values = imagebits(image, self.algorithm, self.size, self.exif, self.normalize)
        return tohex(values) if self.strings else values.astype(np.float32)
