"""
Vectors module: a txtai vectors method that turns images into vectors of their hash bits, so that an index with
`quantize: 1` stores each hash as a binary vector and vector search ranks images by Hamming distance.
"""

import math
import os

import numpy as np


from txtai.vectors import Vectors

from .algorithms import ishex, nbits
from .pipeline import ImageHash

# Dotted path of the vectors method, for configuration dicts and YAML
METHOD = "txtai_imagehash.vectors.HashVectors"

# Exact multi-index hashing ANN backend
HAMMING = "txtai_imagehash.ann.HammingIndex"

# Above this many rows, vectorconfig(approximate="auto") builds an approximate index (exact search measured
# 1.4-1.7 ms p50 at 1M rows on 2 cores, see benchmarks/scale.py)
LARGE = 10_000_000


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
    that computed the `text` hashes. See vectorconfig().

    Scores: txtai reports a binary index score as 1 - hamming / (8 * dimensions bytes); see todistance().
    """

    def loadmodel(self, path):
        options = self.config.get("vectors", {})
        unknown = set(options) - {"algorithm", "size", "exif", "normalize"}
        if unknown:
            raise ValueError(f"Unknown HashVectors options {sorted(unknown)}: expected algorithm, size, exif, normalize")

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
            output[np.flatnonzero(ishash)] = decode(hashes, nbits)

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


def decode(hashes, nbits):
    """
    Decodes hex hashes into bits in one vectorized step.

    Args:
        hashes: list of hex strings of equal length
        nbits: number of bits per hash (leading pad bits of the hex encoding are dropped)

    Returns:
        boolean array of shape (len(hashes), nbits)
    """

    digits = len(hashes[0])

    # Odd digit counts are left padded to whole bytes, which only adds leading zero bits
    pad = "0" if digits % 2 else ""
    data = bytes.fromhex(pad + pad.join(hashes)) if pad else bytes.fromhex("".join(hashes))
    values = np.unpackbits(np.frombuffer(data, dtype=np.uint8).reshape(len(hashes), -1), axis=1)
    return values[:, values.shape[1] - nbits :].astype(bool)


def vectorconfig(algorithm="average", size=8, exif=False, approximate=False, count=None, backend="faiss"):
    """
    Creates the Embeddings configuration keys for a binary Hamming vector index of image hashes. Merge them into a
    configuration, e.g. txtai_imagehash.config(**vectorconfig()) or txtai_imagehash.config(vectors=True).

    Args:
        algorithm: hash algorithm, must match the pipeline that computes the `text` hashes
        size: hash size
        exif: apply EXIF orientation before hashing
        approximate: False (default) for an exact flat binary index (BFlat, a brute-force popcount scan),
                     True for an approximate inverted file index (BIVF, nprobe cells searched), "auto" for
                     approximate when count is above LARGE rows
        count: expected number of rows, sizes the approximate index
        backend: "faiss" (default), "hamming" for txtai_imagehash.ann.HammingIndex (exact, multi-index hashing:
                 sublinear for near-duplicate queries), or another txtai ANN backend with binary support such
                 as "pgvector"

    Returns:
        configuration dict
    """

    configuration = {
        "method": METHOD,
        "vectors": {"algorithm": algorithm, "size": size, "exif": exif},
        "quantize": 1,
        "backend": HAMMING if backend == "hamming" else backend,
    }

    if backend == "faiss":
        approximate = approximate if approximate != "auto" else bool(count and count > LARGE)
        if approximate:
            # IVF cells: txtai's rule of thumb (4 * sqrt(rows), at least 39 rows per cell) capped at 1,024 cells so
            # that training stays short, trained on a sample of at most 100,000 rows, 1/16 of the cells probed.
            # benchmarks/scale.py measures this configuration's recall.
            configuration["faiss"] = {"components": "BIVF"}
            if count:
                cells = max(min(round(4 * math.sqrt(count)), count // 39, 1024), 1)
                configuration["faiss"] = {"components": f"BIVF{cells}", "nprobe": max(cells // 16, 1), "sample": min(1.0, 100000 / count)}
        else:
            # Exact: txtai otherwise builds an approximate BIVF index above 5,000 rows
            configuration["faiss"] = {"components": "BFlat"}

    return configuration


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
