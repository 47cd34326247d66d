"""
Algorithms module: the image hash algorithms, name -> function(image, size) -> bits, and hex encoding.
"""

import functools
import re

import imagehash
import numpy as np

from PIL import Image

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

HEX = re.compile(r"[0-9a-fA-F]+")


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


def tohex(values):
    """
    Encodes hash bits as a hex string, most significant bit first, left padded to whole hex digits.
    This is the encoding of imagehash (and so of txtai.pipeline.ImageHash).

    Args:
        values: flat array of bits

    Returns:
        hex string
    """

    values = np.asarray(values, dtype=bool).reshape(-1)
    width = (len(values) + 3) // 4

    # Left pad to a whole number of hex digits, then pack 4 bits per digit
    padded = np.concatenate([np.zeros(width * 4 - len(values), dtype=bool), values])
    nibbles = padded.reshape(-1, 4) @ np.array([8, 4, 2, 1])
    return "".join("0123456789abcdef"[x] for x in nibbles)


def fromhex(value, nbits=None):
    """
    Decodes a hex hash into its bits.

    Args:
        value: hex string
        nbits: number of bits in the hash, defaults to 4 bits per hex digit (leading pad bits are dropped)

    Returns:
        flat boolean numpy array
    """

    if not ishex(value):
        raise ValueError(f"Invalid hash {value!r}: expected a non-empty hex string")

    nbits = nbits if nbits else len(value) * 4
    if nbits > len(value) * 4:
        raise ValueError(f"Invalid hash {value!r}: {len(value)} hex digits hold fewer than {nbits} bits")

    digits = np.array([int(x, 16) for x in value])
    values = ((digits[:, None] >> np.array([3, 2, 1, 0])) & 1).astype(bool).reshape(-1)
    return values[len(values) - nbits :]


def ishex(value):
    """
    Checks if value is a non-empty string of hex digits (no prefix, sign or whitespace).

    Args:
        value: value to check

    Returns:
        True if value is a hex string
    """

    return isinstance(value, str) and HEX.fullmatch(value) is not None
