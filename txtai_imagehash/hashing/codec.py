"""
Codec module: hex hashes <-> bits <-> 64-bit words, in one place. The hex encoding is imagehash's (and so
txtai.pipeline.ImageHash's): most significant bit first, left padded to whole hex digits.
"""

import re

import numpy as np

HEX = re.compile(r"[0-9a-fA-F]+")

# Hex digits per 64-bit word
WORD = 16


def ishex(value):
    """
    Checks if value is a non-empty string of hex digits (no prefix, sign or whitespace).

    Args:
        value: value to check

    Returns:
        True if value is a hex string
    """

    return isinstance(value, str) and HEX.fullmatch(value) is not None


def tohex(values):
    """
    Encodes hash bits as a hex string, most significant bit first, left padded to whole hex digits.

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
    Decodes one hex hash into its bits, checking it.

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

    return unpack([value], nbits)[0]


def unpack(hashes, nbits):
    """
    Decodes hex hashes of equal length into bits in one vectorized step.

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


def words(hashes):
    """
    Encodes hex hashes as rows of 64-bit words: word i holds hex digits 16i to 16i + 15, the last word right aligned
    (the value of its digits). Hamming distances between rows are those between the hashes.

    Args:
        hashes: list of hex strings of equal length

    Returns:
        (uint64 array of shape (n, words), bits per hash: 4 per hex digit)
    """

    digits = {len(value) for value in hashes}
    if len(digits) > 1:
        raise ValueError(f"Hashes of different lengths ({sorted(digits)} hex digits): use one algorithm and size")

    digits = digits.pop()
    count = -(-digits // WORD)

    # Right align the last word: zeros before its digits, then decode all words at once
    pad = "0" * (count * WORD - digits)
    if pad:
        last = (count - 1) * WORD
        hashes = [value[:last] + pad + value[last:] for value in hashes]

    codes = np.frombuffer(bytes.fromhex("".join(hashes)), dtype=">u8").astype(np.uint64)
    return codes.reshape(len(hashes), count), digits * 4
