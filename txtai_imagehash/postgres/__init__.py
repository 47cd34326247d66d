"""
PostgreSQL: the image hash index with content in PostgreSQL and, optionally, binary hash vectors in pgvector.
Needs the `postgres` extra (psycopg2-binary, pgvector, SQLAlchemy).

Python SQL functions do not exist inside a PostgreSQL server, so the content database of this package creates
`distance` and `hamming` in the database with exactly the results of txtai_imagehash.distance and
txtai_imagehash.hamming. It also lets several processes upsert into the same index: writers take a PostgreSQL
advisory lock until they commit and allocate index ids from the database, not from the offset in their local copy
of the index configuration.

- functions: the SQL functions created in the server
- database: the content database (txtai client database + functions + safe concurrent writers)
- ann: txtai's pgvector index of binary vectors, with ids continued from the database
"""

import importlib

from urllib.parse import urlparse

from ..index import config as baseconfig

# Dotted paths of the content database and vector index classes, for configuration dicts and YAML
DATABASE = "txtai_imagehash.postgres.PostgreSQL"
BACKEND = "txtai_imagehash.postgres.PGVector"


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


def __getattr__(name):
    """
    Imports the server-side parts on first use, so that a configuration can be built without the `postgres` extra.
    """

    modules = {"PostgreSQL": "database", "PGVector": "ann", "install": "functions", "sql": "functions"}
    if name not in modules:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    try:
        module = importlib.import_module(f".{modules[name]}", __name__)
    except ImportError as error:
        raise ImportError(f'PostgreSQL needs the postgres extra: pip install "txtai-imagehash[postgres]" ({error})') from error

    return getattr(module, name)
