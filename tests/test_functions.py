"""
SQL functions: distance has the recipe's semantics, hamming counts differing bits, closest is the smallest hamming
plus penalty over several hashes.
"""

import pytest
import textdistance

from hypothesis import given, strategies as st

from txtai_imagehash import closest, distance, hamming
from txtai_imagehash.hashing.codec import fromhex

hexes = st.text(alphabet="0123456789abcdef", max_size=40)


def recipe(a, b):
    """
    The distance function of txtai's near-duplicate image example, on pure-Python textdistance.
    """

    levenshtein = textdistance.Levenshtein(external=False)
    if a and b:
        return levenshtein.distance(a, b)
    if a:
        return len(a)
    if b:
        return len(b)
    return 0


@given(hexes, hexes)
def test_distance_matches_recipe(a, b):
    """
    Same values as the recipe's function, as ints.
    """

    value = distance(a, b)
    assert isinstance(value, int)
    assert value == recipe(a, b)


def test_distance_empty_values():
    """
    The recipe's empty-value rules: length of the other, 0 for both empty, None counts as empty.
    """

    assert distance("abcd", "") == 4
    assert distance("", "abc") == 3
    assert distance(None, "ab") == 2
    assert distance("", "") == 0
    assert distance(None, None) == 0
    assert distance("ff00", "ff01") == 1


@given(st.integers(min_value=1, max_value=64).flatmap(lambda n: st.tuples(*[st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n)] * 2)))
def test_hamming_counts_bits(pair):
    """
    hamming equals the count of differing decoded bits.
    """

    a, b = pair
    assert hamming(a, b) == int((fromhex(a.lower()) != fromhex(b.lower())).sum())
    assert hamming(a, a) == 0


def test_hamming_values_and_errors():
    """
    Known values, NULL for missing hashes, errors for unequal lengths and non-hex input.
    """

    assert hamming("ff", "00") == 8
    assert hamming("8000000000000000", "0000000000000001") == 2
    assert hamming(None, "ff") is None
    assert hamming("", "ff") is None

    with pytest.raises(ValueError, match="unequal length"):
        hamming("ff", "fff")
    for bad in ["0xff", "-1", "f f", "zz", " ff"]:
        with pytest.raises(ValueError, match="not a hex hash"):
            hamming(bad, "ff" if len(bad) != 2 else "00")


@given(st.integers(min_value=1, max_value=48).flatmap(lambda n: st.tuples(st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n), st.lists(st.tuples(st.text(alphabet="0123456789abcdef", min_size=n, max_size=n), st.integers(0, 40)), min_size=1, max_size=16))))
def test_closest_is_smallest_hamming(case):
    """
    closest(text, hashes, penalties) equals min(hamming(text, hash) + penalty), what the SQL path computed with one
    hamming() call per query hash.
    """

    text, queries = case
    hashes, penalties = ",".join(x for x, _ in queries), ",".join(str(p) for _, p in queries)
    assert closest(text, hashes, penalties) == min(hamming(text, x) + p for x, p in queries)


def test_closest_values_and_errors():
    """
    Known values, NULL for a missing hash, errors for hashes of other lengths, non-hex input and missing penalties.
    """

    assert closest("ff", "00,fe,0f", "0,19,0") == 4
    assert closest("ff", "00,fe", "0,0") == 1
    assert closest(None, "ff", "0") is None and closest("", "ff", "0") is None

    with pytest.raises(ValueError, match="not a hex hash of 2 digits"):
        closest("fff", "00,ff", "0,0")
    with pytest.raises(ValueError, match="not a hex hash"):
        closest("zz", "00", "0")
    with pytest.raises(ValueError, match="one length"):
        closest("ff", "00,fff", "0,0")
    with pytest.raises(ValueError, match="one penalty each"):
        closest("ff", "00,ff", "0")
