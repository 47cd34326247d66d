"""
Vectors module: a txtai vectors method that turns images into vectors of their hash bits, so that an index with
`quantize: 1` stores each hash as a binary vector and vector search ranks images by Hamming distance.
"""

import os

import numpy as np

from txtai.vectors import Vectors

from .hashing.algorithms import nbits
from .hashing.codec import ishex, unpack
from .pipeline import ImageHash
from .settings import PIPELINE


class HashVectors(Vectors):
    """
    Vectors of image hash bits: bit 1 -> +1.0, bit 0 -> -1.0. With `quantize: 1`, txtai's scalar quantization maps
    +1 back to bit 1 and -1 to bit 0, so the stored binary vector is exactly the hash, and the faiss (or pgvector)
    binary index ranks rows by Hamming distance. Vectors of 0/1 would not work: after normalization every
    component is >= 0 and quantizes to 1.

    Input data is either an image source (path, pathlib path, PIL image, bytes, binary file object) or a hex hash
    string. A string of hex digits with exactly the hash's length (16 digits for a 64-bit hash) is read as a hash,
    any other string as a path. Indexing `txtai_imagehash.documents()` streams hashes (the `text` field), so images
    are decoded once.

    Configuration (all optional, under the `vectors` key): algorithm (default average), size (default 8),
    exif (default False), normalize: the arguments of txtai_imagehash.ImageHash, which must match the pipeline
    that computed the `text` hashes. See txtai_imagehash.vectorconfig().

    Scores: txtai reports a binary index score as 1 - hamming / (8 * dimensions bytes); see todistance().
    """

    def loadmodel(self, path):
        options = self.config.get("vectors", {})
        unknown = set(options) - set(PIPELINE)
        if unknown:
            raise ValueError(f"Unknown HashVectors options {sorted(unknown)}: expected {', '.join(PIPELINE)}")

        # Hash pipeline that returns bits as float32 arrays
        return ImageHash(**options, strings=False)

    def encode(self, data, category=None):
        bits = self.bits(data)
        return bits.astype(np.float32) * 2.0 - 1.0

    def bits(self, data):
        """
        Gets the hash bits of a batch of image sources and/or hex hashes.

        Args:
            data: list of image sources or hex hashes

        Returns:
            boolean array, one row of bits per input
        """

        nbits = self.nbits()
        digits = (nbits + 3) // 4

        # Hex hashes decode in one vectorized step; images are hashed one by one
        ishash = [self.ishash(value, digits) for value in data]
        hashes = [value for value, flag in zip(data, ishash) if flag]

        output = np.empty((len(data), nbits), dtype=bool)
        if hashes:
            output[np.flatnonzero(ishash)] = unpack(hashes, nbits)

        for x, value in enumerate(data):
            if not ishash[x]:
                # A hex string of another length is a hash of another algorithm or size, unless it is a file
                if isinstance(value, str) and ishex(value) and not os.path.exists(value):
                    raise ValueError(f"Hash {value!r} has {len(value)} hex digits: this index holds {nbits}-bit hashes ({digits} digits)")

                output[x] = self.model(value) > 0

        return output

    def ishash(self, value, digits):
        """
        Checks if value is a hex hash for this method.

        Args:
            value: input value
            digits: number of hex digits in a hash

        Returns:
            True if value is a hex string of exactly digits characters
        """

        return isinstance(value, str) and len(value) == digits and ishex(value)

    def nbits(self):
        """
        Number of bits in a hash of the configured algorithm and size.

        Returns:
            number of bits
        """

        return nbits(self.model.algorithm, self.model.size)


def todistance(score, embeddings):
    """
    Converts a vector search score of a HashVectors index back into a Hamming distance in bits.

    txtai scores binary indexes as 1 - hamming / (8 * dimensions), where dimensions is the number of bytes per
    vector (a 64-bit hash: 1 - hamming / 64). Without quantization, vectors are normalized +/-1 vectors and the
    score is their inner product, 1 - 2 * hamming / nbits.

    Args:
        score: search result score
        embeddings: Embeddings instance (or its configuration dict)

    Returns:
        Hamming distance as an int
    """

    config = embeddings if isinstance(embeddings, dict) else embeddings.config
    quantize = config.get("quantize")

    if isinstance(quantize, bool) or not quantize:
        return round((1.0 - score) * config["dimensions"] / 2)

    if quantize != 1:
        raise ValueError(f"todistance: quantize {quantize} scores are not Hamming scores, use quantize 1")

    return round((1.0 - score) * config["dimensions"] * 8)
