"""
Functions module: SQL functions for ranking rows by hash distance.
"""

from rapidfuzz.distance import Levenshtein

from .algorithms import ishex


def distance(a: str, b: str) -> int:
    """
    Levenshtein distance between two hash strings, with the null handling of txtai's near-duplicate image
    recipe: the length of the other string when one is empty, 0 when both are.

    Args:
        a: hash string
        b: hash string

    Returns:
        edit distance as an int
    """

    if a and b:
        return Levenshtein.distance(a, b)
    if a:
        return len(a)
    if b:
        return len(b)
    return 0


def hamming(a: str, b: str) -> int:
    """
    Number of differing bits between two hex hashes of equal length. A missing (NULL or empty) hash gives
    NULL, so SQL can filter rows without a hash.

    Args:
        a: hex hash
        b: hex hash

    Returns:
        number of differing bits, or None when either hash is missing
    """

    if not a or not b:
        return None

    for value in (a, b):
        if not ishex(value):
            raise ValueError(f"hamming: {value!r} is not a hex hash")

    if len(a) != len(b):
        raise ValueError(f"hamming: hashes of unequal length ({len(a)} and {len(b)} hex digits): {a!r}, {b!r}")

    return (int(a, 16) ^ int(b, 16)).bit_count()
