"""
Near module: the `near(text, hash, radius)` SQL predicate of txtai SQL on a PostgreSQL index, answered from the hash
blocks.

    embeddings.search("select id, path from txtai where near(text, :hash, 6)", 10, parameters={"hash": value})

is true for the rows whose hash is within radius bits of hash; bound to lists, hash and radius ask for the rows within
the radius of any of the hashes (one radius per hash, or one for all). The content database rewrites each
`near(text, <:parameter or 'literal'>, <:parameter or integer>)` of a query into `s.indexid IN (<rows within radius,
found by multi-index hashing>)`, which PostgreSQL runs as a semi-join on a few index probes. Any other use of near()
(another column, a computed radius) runs the SQL function of the same name (txtai_imagehash.postgres.functions),
which gives the same rows by a scan.
"""

import re

# near(text, hash, radius) as txtai's SQL parser writes it: hash and radius are bind parameters or literals
NEAR = re.compile(r"\bnear\(\s*text\s*,\s*(:\w+|'[^']*')\s*,\s*(:\w+|\d+)\s*\)", re.IGNORECASE)


def rewrite(blocks, query, parameters=None):
    """
    Rewrites the near() predicates of a query into multi-index hashing lookups.

    Args:
        blocks: txtai_imagehash.postgres.blocks.Blocks of the index, or None (query unchanged)
        query: SQL query from txtai's SQL parser
        parameters: bind parameters of the query

    Returns:
        (query, parameters) with the parameters of the lookups added
    """

    parameters = dict(parameters) if parameters else {}
    if not blocks:
        return (query, parameters) if parameters else (query,)

    count = 0

    def lookup(match):
        nonlocal count
        values, radii = (resolve(token, parameters) for token in match.groups())
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        radii = list(radii) if isinstance(radii, (list, tuple)) else [radii] * len(values)
        if len(radii) != len(values):
            raise ValueError(f"near(): {len(values)} hashes and {len(radii)} radii")

        branches = []
        for value, radius in zip(values, radii):
            try:
                radius = int(radius)
            except (TypeError, ValueError):
                raise ValueError(f"near(): radius must be an integer, got {radius!r}") from None

            prefix = f"imagehash_near{count}_"
            count += 1

            # A negative radius matches no row
            if radius >= 0:
                sql, bound = blocks.within(value, radius, prefix)
                parameters.update(bound)
                branches.append(f"SELECT indexid FROM ({sql}) AS {prefix}rows")

        return f"s.indexid IN ({' UNION ALL '.join(branches) if branches else 'SELECT NULL::integer WHERE false'})"

    query = NEAR.sub(lookup, query)
    return (query, parameters) if parameters else (query,)


def resolve(token, parameters):
    """
    Reads the value of a bind parameter or a literal.

    Args:
        token: ":name", "'literal'" or a number
        parameters: bind parameters

    Returns:
        value
    """

    if token.startswith(":"):
        if token[1:] not in parameters:
            raise ValueError(f"near(): missing parameter {token}")
        return parameters[token[1:]]

    return token[1:-1] if token.startswith("'") else token
