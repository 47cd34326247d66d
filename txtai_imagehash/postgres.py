"""
PostgreSQL module: the image hash index with content in PostgreSQL and, optionally, binary hash vectors in pgvector.

Python SQL functions do not exist inside a PostgreSQL server, so the content database of this module creates
`distance` and `hamming` in the database as PL/pgSQL functions with exactly the results of
txtai_imagehash.distance and txtai_imagehash.hamming. It also lets several processes upsert into the same index:
writers take a PostgreSQL advisory lock until they commit and allocate index ids from the database, not from
the offset in their local copy of the index configuration.
"""

import os

from urllib.parse import urlparse

# Conditional import
try:
    from sqlalchemy import StaticPool, create_engine, func, insert, text as textsql
    from sqlalchemy.orm import Session
    from sqlalchemy.schema import CreateSchema

    from txtai.ann.dense.pgvector import PGVector as TxtaiPGVector
    from txtai.database.client import Client
    from txtai.database.schema import Document, Object, Section

    POSTGRES = True
except ImportError:  # pragma: no cover
    POSTGRES = False
    Client = TxtaiPGVector = object

from .index import config as baseconfig

# Dotted paths of the content database and vector index classes, for configuration dicts and YAML
DATABASE = "txtai_imagehash.postgres.PostgreSQL"
BACKEND = "txtai_imagehash.postgres.PGVector"

# Advisory lock keys (first key spells "txti"): function installation, and writers of one schema's index
LOCKSPACE = 1954051177
INSTALL = 1

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

FUNCTIONS = {"distance": DISTANCE, "hamming": HAMMING}


def config(url, vectors=False, **overrides):
    """
    Creates an Embeddings configuration for an image hash index in PostgreSQL: content (documents, image bytes,
    hashes) in the database at url, the `distance` and `hamming` SQL functions created in that database, and with
    vectors=True, the hash bits as BIT vectors in pgvector with a Hamming HNSW index (`quantize: 1`).

    Args:
        url: database URL, e.g. postgresql+psycopg2://user:password@host/db; plain postgresql:// URLs use psycopg2.
             None reads the CLIENT_URL environment variable when the index is opened.
        vectors: True to add a pgvector binary vector index of the hash bits, or a dict of
                 txtai_imagehash.vectors.vectorconfig() arguments (algorithm, size, exif)
        overrides: configuration keys to add or replace, e.g. schema="photos" to keep the index in its own schema,
                   or pgvector={"m": 32, "efconstruction": 400, "table": "vectors"} for HNSW settings

    Returns:
        configuration dict
    """

    url = driver(url)

    if vectors:
        # Binary hash vectors in pgvector, next to the content and in the same schema unless set otherwise
        options = {**(vectors if isinstance(vectors, dict) else {}), "backend": BACKEND}
        pgvector = {"url": url, **({"schema": overrides["schema"]} if "schema" in overrides else {}), **overrides.pop("pgvector", {})}
        configuration = baseconfig(vectors=options, pgvector=pgvector, **overrides)
    else:
        configuration = baseconfig(**overrides)

    # The content database of this module creates the SQL functions in the server: Python functions are not used
    configuration.pop("functions", None)
    configuration["content"] = DATABASE
    configuration["postgres"] = {"url": url, **configuration.get("postgres", {})}

    return configuration


def driver(url):
    """
    Adds the psycopg2 driver to plain postgresql:// URLs.

    Args:
        url: database URL or None

    Returns:
        SQLAlchemy database URL
    """

    if url and urlparse(url).scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg2" + url[url.index(":") :]

    return url


def install(connection):
    """
    Creates or replaces the `distance` and `hamming` functions in the current schema of a PostgreSQL connection,
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
        True if both functions exist with the definitions of this module
    """

    installed = definitions(connection)
    return all(installed.get(name) == body(sql) for name, sql in FUNCTIONS.items())


def definitions(connection):
    """
    Reads the bodies of the distance(text, text) and hamming(text, text) functions in the current schema.

    Args:
        connection: SQLAlchemy connection or session

    Returns:
        {name: body}
    """

    rows = connection.execute(
        textsql(
            "SELECT p.proname, p.prosrc FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = current_schema() AND p.proname IN ('distance', 'hamming') "
            "AND p.proargtypes = '25 25'::oidvector"
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


class PostgreSQL(Client):
    """
    Content database in PostgreSQL for image hash indexes. A txtai client database that:

    - creates the `distance` and `hamming` SQL functions in the database on connect (index creation and load)
    - writes rows in bulk
    - serializes writers of the same index with a transaction-scoped advisory lock, taken on their first write and
      released when they commit (Embeddings.save), and allocates index ids after the largest one in the database,
      so that several processes can upsert into the same index at once without losing rows

    Configure with `"content": "txtai_imagehash.postgres.PostgreSQL"` and the database URL under
    `"postgres": {"url": ...}` (or the CLIENT_URL environment variable); see txtai_imagehash.postgres.config().
    Other txtai client settings (`schema`) apply as for a `postgresql+psycopg2://` content URL.
    """

    def __init__(self, config):
        if not POSTGRES:
            raise ImportError('PostgreSQL is not available - install the "postgres" extra to enable')

        super().__init__(config)

        # Writer lock held in the current transaction
        self.locked = False

        # Rows of the current insert batch, written in bulk by finalize()
        self.pending = {Document: [], Object: [], Section: []}

    def connect(self, path=None):
        url = self.url()

        # Same engine and session setup as txtai's client database
        self.engine = create_engine(url, poolclass=StaticPool, echo=False, json_serializer=lambda x: x)
        self.dbconnection = self.engine.connect()

        database = Session(self.dbconnection)

        schema = self.config.get("schema")
        if schema:
            with self.engine.begin():
                database.execute(CreateSchema(schema, if_not_exists=True))

            database.execute(textsql("SET search_path TO :schema"), {"schema": schema})

        return database

    def url(self):
        """
        Reads the database URL: `postgres.url` in the configuration, else the CLIENT_URL environment variable.

        Returns:
            SQLAlchemy database URL
        """

        url = driver(self.config.get("postgres", {}).get("url") or os.environ.get("CLIENT_URL"))
        if not url or not url.startswith("postgresql"):
            raise ValueError(f"PostgreSQL content database needs a postgresql:// URL in config['postgres']['url'] or CLIENT_URL, got {url!r}")

        return url

    def addfunctions(self):
        # Create the SQL functions in the database. This commits: it runs when a session starts, before any writes.
        install(self.connection)

    def insert(self, documents, index=0):
        self.initialize()

        # Next free index id, after this index's rows committed by other writers
        index = max(index, self.lock())

        # Rows left by a failed insert are never written
        for rows in self.pending.values():
            rows.clear()

        super().insert(documents, index)

    # Ids are stored as text: binding them as text lets a batch mix int and str ids in one multi-row insert
    def insertdocument(self, uid, data, tags, entry):
        self.pending[Document].append({"id": str(uid), "data": data, "tags": tags, "entry": entry})

    def insertobject(self, uid, data, tags, entry):
        self.pending[Object].append({"id": str(uid), "object": data, "tags": tags, "entry": entry})

    def insertsection(self, index, uid, text, tags, entry):
        self.pending[Section].append({"indexid": index, "id": str(uid), "text": text, "tags": tags, "entry": entry})

    def finalize(self):
        # Bulk inserts (multi-row VALUES) instead of one ORM object per row: same rows, several times faster
        for table, rows in self.pending.items():
            if rows:
                self.connection.execute(insert(table), rows)
                rows.clear()

        super().finalize()

    def delete(self, ids):
        if self.connection:
            self.lock()

        super().delete(ids)

    def save(self, path):
        super().save(path)

        # Commit releases the writer lock
        self.locked = False

    def close(self):
        super().close()
        self.locked = False

    def lock(self):
        """
        Takes the writer lock of this index for the current transaction, if not already held, and returns the
        next free index id.

        Returns:
            next free index id
        """

        if not self.locked:
            self.cursor.execute(
                "SELECT pg_advisory_xact_lock(:space, hashtext(current_schema() || '.sections'))", {"space": LOCKSPACE}
            )
            self.locked = True

        self.cursor.execute("SELECT max(indexid) FROM sections")
        last = self.cursor.fetchone()[0]
        return last + 1 if last is not None else 0


class PGVector(TxtaiPGVector):
    """
    txtai's pgvector index of binary vectors, with settings under the `pgvector` key and index ids continued from
    the largest one in the database on append. Writers are serialized by the lock of the PostgreSQL content
    database, so the vectors appended get the same index ids as their content rows.

    Configure with `"backend": "txtai_imagehash.postgres.PGVector"` and `"pgvector": {"url": ...}`. Settings are
    those of txtai's pgvector backend (url, schema, table, m, efconstruction) plus `efsearch`, pgvector's
    hnsw.ef_search for this index's queries (pgvector's default is 40: higher finds more of the true nearest rows).
    """

    def connect(self):
        super().connect()

        efsearch = self.setting("efsearch")
        if efsearch:
            if isinstance(efsearch, bool) or not isinstance(efsearch, int) or not 1 <= efsearch <= 1000:
                raise ValueError(f"Invalid pgvector efsearch {efsearch!r}: expected an integer from 1 to 1000")

            self.database.execute(textsql("SELECT set_config('hnsw.ef_search', :value, false)"), {"value": str(efsearch)})

    def setting(self, name, default=None):
        backend = self.config.get("pgvector")
        value = backend.get(name) if backend else None
        return value if value or (backend and name in backend) else default

    def url(self):
        return driver(self.setting("url") or os.environ.get("ANN_URL") or os.environ.get("CLIENT_URL"))

    def append(self, embeddings):
        # pylint: disable=E1102
        last = self.database.query(func.max(self.table.c["indexid"])).scalar()
        self.config["offset"] = max(self.config.get("offset", 0), last + 1 if last is not None else 0)

        super().append(embeddings)
