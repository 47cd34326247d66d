"""
PostgreSQL: the image hash index with content in PostgreSQL, searched exactly inside the database by multi-index
hashing, or approximately with pgvector. Needs the `postgres` extra (psycopg2-binary, pgvector, SQLAlchemy).

Python SQL functions do not exist inside a PostgreSQL server, so the content database of this package creates
`distance`, `hamming` and `near` in the database with exactly the results of the Python functions. It keeps every
row's hash as native bits and blocks (the `hashes` table, B-tree indexes per block), so that vector search, the
`near(text, :hash, radius)` SQL predicate and dedup are exact and sublinear. It also lets several processes upsert
into the same index: writers take a PostgreSQL advisory lock until they commit and allocate index ids from the
database, not from the offset in their local copy of the index configuration.

- functions: the SQL functions created in the server
- blocks: the hashes table, exact Hamming search by multi-index hashing
- near: the near() SQL predicate, answered from the blocks
- pairs: all pairs within a distance, as a set query over the blocks (dedup inside the database)
- database: the content database (txtai client database + functions + hashes + safe concurrent writers)
- ann: HammingIndex (exact vector search from the hashes table) and txtai's pgvector index of binary vectors
"""

import importlib

from urllib.parse import urlparse

from ..index import config as baseconfig

# Dotted paths of the content database and vector index classes, for configuration dicts and YAML
DATABASE = "txtai_imagehash.postgres.PostgreSQL"
HAMMING = "txtai_imagehash.postgres.HammingIndex"
BACKEND = "txtai_imagehash.postgres.PGVector"


def config(url, vectors=False, **overrides):
    """
    Creates an Embeddings configuration for an image hash index in PostgreSQL: content (documents, image bytes,
    hashes) in the database at url, the `distance`, `hamming` and `near` SQL functions created in that database and
    the hash bits and blocks of every row (exact multi-index hashing search inside the database). With vectors=True,
    `embeddings.search(image_or_hash, k)` is exact vector search over those blocks
    (txtai_imagehash.postgres.HammingIndex, no pgvector needed); with vectors={"approximate": True}, the hash bits
    are BIT vectors in pgvector with a Hamming HNSW index instead (approximate).

    Args:
        url: database URL, e.g. postgresql+psycopg2://user:password@host/db; plain postgresql:// URLs use psycopg2.
             None reads the CLIENT_URL environment variable when the index is opened.
        vectors: True for exact vector search (HammingIndex), or a dict of txtai_imagehash.vectors.vectorconfig()
                 arguments (algorithm, size, exif) plus "approximate": True (or "backend": "pgvector") for pgvector
        overrides: configuration keys to add or replace, e.g. schema="photos" to keep the index in its own schema,
                   hamming={"maxdistance": 8} to return only rows within 8 bits (bounded work per query), or
                   pgvector={"m": 32, "efconstruction": 400, "table": "vectors"} for HNSW settings

    Returns:
        configuration dict
    """

    url = driver(url)

    if vectors:
        options = dict(vectors) if isinstance(vectors, dict) else {}
        if options.pop("approximate", False) or options.get("backend") in ("pgvector", BACKEND):
            # Binary hash vectors in pgvector, next to the content and in the same schema unless set otherwise
            pgvector = {"url": url, **({"schema": overrides["schema"]} if "schema" in overrides else {}), **overrides.pop("pgvector", {})}
            configuration = baseconfig(vectors={**options, "backend": BACKEND}, pgvector=pgvector, **overrides)
        else:
            # Exact search over the hash blocks of the content database
            configuration = baseconfig(vectors={**options, "backend": HAMMING}, **overrides)
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


def __getattr__(name):
    """
    Imports the server-side parts on first use, so that a configuration can be built without the `postgres` extra.
    """

    modules = {"PostgreSQL": "database", "HammingIndex": "ann", "PGVector": "ann", "install": "functions", "sql": "functions"}
    if name not in modules:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    try:
        module = importlib.import_module(f".{modules[name]}", __name__)
    except ImportError as error:
        raise ImportError(f'PostgreSQL needs the postgres extra: pip install "txtai-imagehash[postgres]" ({error})') from error

    return getattr(module, name)
