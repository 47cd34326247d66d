"""
SQL module: the recipe's SQL. The `distance` and `hamming` functions that rank rows by hash distance, their
registration for an Embeddings configuration, and the query builder that uses them from validated parts, never from
pasted user input.
"""

import functools
import re

from rapidfuzz.distance import Levenshtein

from .checks import MAXBITS, SQLINT, integer
from .hashing.codec import ishex

# SQL functions, registered by dotted path under explicit names so that they survive save() and load()
FUNCTIONS = [
    {"name": "distance", "function": "txtai_imagehash.distance", "deterministic": True},
    {"name": "hamming", "function": "txtai_imagehash.hamming", "deterministic": True},
    {"name": "closest", "function": "txtai_imagehash.closest", "deterministic": True},
]


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


def closest(text: str, hashes: str, penalties: str) -> int:
    """
    Smallest Hamming distance, plus its penalty, between a hex hash and any of several: what
    min(hamming(text, h1) + p1, hamming(text, h2) + p2, ...) computes, in one call per row (a query of 16 hashes is
    16 SQL function calls per row otherwise, about 8x slower in SQLite).

    Args:
        text: hex hash of a row
        hashes: comma-separated hex hashes, all as long as text
        penalties: comma-separated integers, one per hash, added to its distances

    Returns:
        bits, or None when text is missing
    """

    if not text:
        return None

    codes, extra = parse(hashes, penalties)
    if not ishex(text) or len(text) != codes[0][1]:
        raise ValueError(f"closest: {text!r} is not a hex hash of {codes[0][1]} digits")

    value = int(text, 16)
    return min((value ^ code).bit_count() + penalty for (code, _), penalty in zip(codes, extra))


@functools.lru_cache(maxsize=64)
def parse(hashes, penalties):
    """
    Reads the query hashes and penalties of closest(), once per query (SQL passes the same text for every row).

    Args:
        hashes: comma-separated hex hashes
        penalties: comma-separated integers

    Returns:
        ([(hash as int, hex digits)], [penalty])
    """

    values, extra = hashes.split(","), [int(x) for x in penalties.split(",")]
    if not all(ishex(x) and len(x) == len(values[0]) for x in values) or len(extra) != len(values):
        raise ValueError(f"closest: {hashes!r} are not hex hashes of one length with one penalty each ({penalties!r})")

    return [(int(x, 16), len(x)) for x in values], extra


# Metrics are SQL functions registered by txtai_imagehash.config()
METRICS = ("distance", "hamming")

# Comma-separated list of column names or *
COLUMNS = re.compile(r"\s*(\*|[A-Za-z_][A-Za-z0-9_]*)(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*")

# Longest hash accepted, in hex digits: 4096 bits
MAXLENGTH = MAXBITS // 4


def query(hash, select="id, object", metric="distance", limit=None, maxdistance=None, cluster=False):
    """
    Builds the SQL query that ranks rows by distance to a hash, nearest first. Each row carries its
    distance in a column named after the metric.

    Args:
        hash: hex hash to search for
        select: comma-separated column names to return
        metric: "distance" (Levenshtein on hex, the recipe's) or "hamming" (differing bits)
        limit: maximum number of rows, defaults to txtai's search limit; at most 2^63 - 1 (SQL's largest integer)
        maxdistance: only return rows at this distance or less, at most 2^63 - 1
        cluster: True for a txtai API cluster: also selects the ORDER BY expression itself (a column named
                 like "distance(text, 'HASH')"), as txtai only re-sorts the merged shard results by a
                 selected ORDER BY column

    Returns:
        SQL string for Embeddings.search
    """

    # pylint: disable=W0622
    if not ishex(hash) or len(hash) > MAXLENGTH:
        raise ValueError(f"Invalid hash {hash!r}: expected 1 to {MAXLENGTH} hex digits (0-9, a-f)")
    if metric not in METRICS:
        raise ValueError(f"Invalid metric {metric!r}: expected one of {', '.join(METRICS)}")
    if not isinstance(select, str) or not COLUMNS.fullmatch(select):
        raise ValueError(f"Invalid select {select!r}: expected comma-separated column names")

    limit, maxdistance = integer("limit", limit, 0, SQLINT), integer("maxdistance", maxdistance, 0, SQLINT)

    expression = f"{metric}(text, '{hash}')"
    where = []
    if metric == "hamming":
        # hamming is NULL for rows without a hash, which would sort first
        where.append(f"{expression} is not null")
    if maxdistance is not None:
        where.append(f"{expression} <= {maxdistance}")

    sql = f"select {select}, {expression} {metric}{f', {expression}' if cluster else ''} from txtai"
    sql += f" where {' and '.join(where)}" if where else ""
    sql += f" order by {expression}"
    sql += f" limit {limit}" if limit is not None else ""
    return sql
