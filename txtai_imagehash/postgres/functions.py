"""
Functions module: the `distance` and `hamming` SQL functions created inside PostgreSQL, where Python functions do
not exist, with exactly the results of txtai_imagehash.distance and txtai_imagehash.hamming.
"""

from sqlalchemy import text as textsql

# Advisory lock keys (first key spells "txti"): function installation, hashes table creation, and writers of one
# schema's index
LOCKSPACE = 1954051177
INSTALL = 1
BLOCKS = 2

# Levenshtein distance with the recipe's empty-value rules. Characters compare as code points (deterministic
# collation), as in Python. Strings up to 62 characters (hashes up to 248 bits) use the bit-parallel algorithm of
# Myers and Hyyro on bigint, as rapidfuzz does; longer ones the two-row dynamic program.
DISTANCE = """
CREATE OR REPLACE FUNCTION distance(a text, b text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body$
DECLARE
    m integer := coalesce(length(a), 0);
    n integer := coalesce(length(b), 0);
    x text[];
    y text[];
    t text;
    previous integer[];
    current integer[];
    c text;
    i integer;
    j integer;
    p integer;
    score integer;
    ones bigint;
    last bigint;
    vp bigint;
    vn bigint;
    hp bigint;
    hn bigint;
    d0 bigint;
    eq bigint;
BEGIN
    -- txtai_imagehash distance v2
    IF m = 0 THEN
        RETURN n;
    END IF;
    IF n = 0 THEN
        RETURN m;
    END IF;
    IF a COLLATE "C" = b COLLATE "C" THEN
        RETURN 0;
    END IF;

    -- The shorter string is the pattern (x, m characters)
    IF m > n THEN
        t := a; a := b; b := t;
        i := m; m := n; n := i;
    END IF;

    x := string_to_array(a, NULL);
    y := string_to_array(b, NULL);

    IF m <= 62 THEN
        ones := (1::bigint << m) - 1;
        last := 1::bigint << (m - 1);
        vp := ones;
        vn := 0;
        score := m;
        FOR j IN 1..n LOOP
            -- Positions of this character in the pattern, as bits
            eq := 0;
            FOREACH p IN ARRAY array_positions(x, y[j]) LOOP
                eq := eq | (1::bigint << (p - 1));
            END LOOP;

            eq := eq | vn;
            d0 := ((((eq & vp) + vp) # vp) | eq) & ones;
            hp := (vn | ~(d0 | vp)) & ones;
            hn := d0 & vp;
            IF hp & last <> 0 THEN
                score := score + 1;
            ELSIF hn & last <> 0 THEN
                score := score - 1;
            END IF;
            hp := ((hp << 1) | 1) & ones;
            hn := (hn << 1) & ones;
            vp := (hn | ~(d0 | hp)) & ones;
            vn := hp & d0;
        END LOOP;

        RETURN score;
    END IF;

    -- previous[j + 1] is the distance between the first i - 1 characters of a and the first j characters of b
    previous := array(SELECT generate_series(0, n));
    FOR i IN 1..m LOOP
        current := ARRAY[i];
        c := x[i];
        FOR j IN 1..n LOOP
            current[j + 1] := least(
                previous[j + 1] + 1,
                current[j] + 1,
                previous[j] + CASE WHEN c COLLATE "C" = y[j] COLLATE "C" THEN 0 ELSE 1 END
            );
        END LOOP;
        previous := current;
    END LOOP;

    RETURN previous[n + 1];
END
$body$
"""

# Differing bits of two hex hashes of equal length: NULL when one is missing, an error for bad input
HAMMING = """
CREATE OR REPLACE FUNCTION hamming(a text, b text) RETURNS integer
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $body$
BEGIN
    -- txtai_imagehash hamming v1
    IF a IS NULL OR b IS NULL OR a = '' OR b = '' THEN
        RETURN NULL;
    END IF;
    IF a !~ '^[0-9a-fA-F]+$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'hamming: ' || quote_literal(a) || ' is not a hex hash';
    END IF;
    IF b !~ '^[0-9a-fA-F]+$' THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'hamming: ' || quote_literal(b) || ' is not a hex hash';
    END IF;
    IF length(a) <> length(b) THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value', MESSAGE = 'hamming: hashes of unequal length ('
            || length(a) || ' and ' || length(b) || ' hex digits): ' || quote_literal(a) || ', ' || quote_literal(b);
    END IF;

    RETURN bit_count(('x' || a)::varbit # ('x' || b)::varbit)::integer;
END
$body$
"""

# Hex hashes within radius bits: the txtai SQL predicate near(text, :hash, radius). The content database answers it
# from the hash blocks (txtai_imagehash.postgres.near); this definition gives the same rows anywhere else, by a scan.
NEAR = """
CREATE OR REPLACE FUNCTION near(a text, b text, radius integer) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
    -- txtai_imagehash near v1
    SELECT CASE WHEN a ~ '^[0-9a-fA-F]+$' AND b ~ '^[0-9a-fA-F]+$' AND length(a) = length(b)
        THEN bit_count(('x' || a)::varbit # ('x' || b)::varbit) <= radius ELSE false END
$body$
"""

# Differing bits of two bit strings: bit_count(a # b), inlined by the planner. PARALLEL UNSAFE on purpose: a query that
# calls it is planned without parallel workers, which would start long after its few index probes are done
# (txtai_imagehash.postgres.blocks verifies candidates with it).
SERIAL = """
CREATE OR REPLACE FUNCTION imagehash_distance(a bit varying, b bit varying) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL UNSAFE AS $body$
    -- txtai_imagehash imagehash_distance v1
    SELECT bit_count(a # b)
$body$
"""

FUNCTIONS = {"distance": DISTANCE, "hamming": HAMMING, "near": NEAR, "imagehash_distance": SERIAL}


def install(connection):
    """
    Creates or replaces the `distance`, `hamming`, `near` and `imagehash_distance` functions in the current schema of a PostgreSQL connection,
    unless the same definitions are already there (so a user without CREATE privilege can use functions an
    administrator installed). Idempotent and safe when several processes install at once. Commits.

    Args:
        connection: SQLAlchemy connection or session

    Returns:
        list of function names created or replaced
    """

    created = []
    if not current(connection):
        # Serialize concurrent installers: CREATE OR REPLACE of the same function at once fails in PostgreSQL
        connection.execute(textsql("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": LOCKSPACE, "key": INSTALL})
        installed = definitions(connection)
        for name, sql in FUNCTIONS.items():
            if installed.get(name) != body(sql):
                connection.execute(textsql(sql))
                created.append(name)

    connection.commit()
    return created


def current(connection):
    """
    Checks if the functions in the current schema are the definitions of this module.

    Args:
        connection: SQLAlchemy connection or session

    Returns:
        True if all functions exist with the definitions of this module
    """

    installed = definitions(connection)
    return all(installed.get(name) == body(sql) for name, sql in FUNCTIONS.items())


def definitions(connection):
    """
    Reads the bodies of the distance(text, text), hamming(text, text), near(text, text, integer) and
    imagehash_distance(bit varying, bit varying) functions in the current schema.

    Args:
        connection: SQLAlchemy connection or session

    Returns:
        {name: body}
    """

    rows = connection.execute(
        textsql(
            "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND (p.proname IN ('distance', 'hamming') AND p.proargtypes = '25 25'::oidvector "
            "OR p.proname = 'near' AND p.proargtypes = '25 25 23'::oidvector "
            "OR p.proname = 'imagehash_distance' AND p.proargtypes = '1562 1562'::oidvector)"
        )
    )
    return {name: source for name, source in rows}


def body(sql):
    """
    Extracts the function body of a CREATE FUNCTION statement, as PostgreSQL stores it in pg_proc.prosrc.

    Args:
        sql: CREATE FUNCTION statement

    Returns:
        function body
    """

    return sql.split("$body$")[1]


def sql():
    """
    The SQL that creates the functions, for an administrator to run once (psql -f) on a server where the index
    user may not create functions.

    Returns:
        SQL script
    """

    return ";\n".join(statement.strip() for statement in FUNCTIONS.values()) + ";\n"
