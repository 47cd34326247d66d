"""
Query module: builds the recipe's SQL query from validated parts, never from pasted user input.
"""

import re

from .algorithms import ishex

# Metrics are SQL functions registered by txtai_imagehash.config()
METRICS = ("distance", "hamming")

# Comma-separated list of column names or *
COLUMNS = re.compile(r"\s*(\*|[A-Za-z_][A-Za-z0-9_]*)(\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*\s*")

# Longest hash accepted: 4096 bits
MAXLENGTH = 1024


def query(hash, select="id, object", metric="distance", limit=None, maxdistance=None, cluster=False):
    """
    Builds the SQL query that ranks rows by distance to a hash, nearest first. Each row carries its
    distance in a column named after the metric.

    Args:
        hash: hex hash to search for
        select: comma-separated column names to return
        metric: "distance" (Levenshtein on hex, the recipe's) or "hamming" (differing bits)
        limit: maximum number of rows, defaults to txtai's search limit
        maxdistance: only return rows at this distance or less
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

    limit, maxdistance = count("limit", limit), count("maxdistance", maxdistance)

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


def count(name, value):
    """
    Validates an optional non-negative integer argument.

    Args:
        name: argument name for the error message
        value: value to check

    Returns:
        value as int, or None
    """

    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"Invalid {name} {value!r}: expected a non-negative integer")
    return int(value)
