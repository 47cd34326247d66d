"""
Database module: the content database of an image hash index in PostgreSQL.
"""

import os
import weakref

from sqlalchemy import StaticPool, create_engine, text as textsql
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateSchema

from txtai.database.client import Client
from txtai.database.schema import Document, Object, Section

from ..hashing.algorithms import nbits
from ..settings import read as settings
from . import driver
from .blocks import Blocks, copy
from .functions import BLOCKS, LOCKSPACE, install
from .near import rewrite
from .pairs import pairs

# Open content databases by the identity of their `postgres` settings dict. txtai gives an index's ANN its
# configuration and its content database a shallow copy of it, so both hold the same `postgres` dict: the
# PostgreSQL HammingIndex finds its content database here and searches through its connection (and so sees the
# rows of the current transaction).
OPEN = weakref.WeakValueDictionary()


class PostgreSQL(Client):
    """
    Content database in PostgreSQL for image hash indexes. A txtai client database that:

    - creates the `distance`, `hamming`, `near` and `imagehash_distance` SQL functions in the database on connect
      (index creation and load)
    - writes rows in bulk (COPY)
    - serializes writers of the same index with a transaction-scoped advisory lock, taken on their first write and
      released when they commit (Embeddings.save), and allocates index ids after the largest one in the database,
      so that several processes can upsert into the same index at once without losing rows
    - keeps the hash of every row as native bits and blocks in the `hashes` table, in step on insert, upsert,
      delete and reindex (see txtai_imagehash.postgres.blocks), for exact Hamming search inside the database:
      the `near(text, :hash, radius)` SQL predicate, txtai_imagehash.postgres.HammingIndex and dedup

    Configure with `"content": "txtai_imagehash.postgres.PostgreSQL"` and the database URL under
    `"postgres": {"url": ...}` (or the CLIENT_URL environment variable); see txtai_imagehash.postgres.config().
    Other txtai client settings (`schema`) apply as for a `postgresql+psycopg2://` content URL.
    """

    def __init__(self, config):
        super().__init__(config)

        # Writer lock held in the current transaction
        self.locked = False

        # Rows of the current insert batch, written in bulk by finalize()
        self.pending = {Document: [], Object: [], Section: []}

        # Hash bits and blocks table, and the rows added to it since its statistics were refreshed
        self.blocks, self.added = None, 0

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

        # Hash blocks table: created (and filled, for an index created before it existed) once. Also commits.
        self.blocks = self.hashes()

    def configure(self, config):
        super().configure(config)

        # The ANN of this index finds this database by its settings (on creation, and after reindex)
        OPEN[id(self.config.setdefault("postgres", {}))] = self

    def hashes(self):
        """
        Opens the hashes table of this index (see txtai_imagehash.postgres.blocks), creating it if missing: filled from
        the sections table when an index already exists. Serialized by an advisory lock, committed.

        Returns:
            Blocks
        """

        stored = Blocks.describe(self.connection)
        if stored is None:
            self.connection.execute(textsql("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": LOCKSPACE, "key": BLOCKS})
            stored = Blocks.describe(self.connection)
            if stored is None:
                blocks = Blocks(self.connection, self.digits())
                blocks.create()
                if self.connection.execute(textsql("SELECT to_regclass('sections') IS NOT NULL")).scalar():
                    blocks.fill()

                stored = blocks.settings()

        self.connection.commit()
        return Blocks(self.connection, stored["digits"], stored["perword"])

    def digits(self):
        """
        Hex digits of this index's hashes, from its hash settings (txtai_imagehash.settings).

        Returns:
            number of hex digits
        """

        values = settings(self.config)
        return -(-nbits(values["algorithm"], values["size"]) // 4)

    def createtables(self):
        super().createtables()

        # A new index: hashes of this index's length, table emptied
        self.blocks = Blocks(self.connection, self.digits())
        self.blocks.create()

    def insert(self, documents, index=0):
        self.initialize()

        # Next free index id, after this index's rows committed by other writers
        index = max(index, self.lock())

        # Rows left by a failed insert are never written
        for rows in self.pending.values():
            rows.clear()

        super().insert(documents, index)

    # Ids are stored as text: writing them as text lets a batch mix int and str ids in one bulk load
    def insertdocument(self, uid, data, tags, entry):
        self.pending[Document].append({"id": str(uid), "data": data, "tags": tags, "entry": entry})

    def insertobject(self, uid, data, tags, entry):
        self.pending[Object].append({"id": str(uid), "object": data, "tags": tags, "entry": entry})

    def insertsection(self, index, uid, text, tags, entry):
        self.pending[Section].append({"indexid": index, "id": str(uid), "text": text, "tags": tags, "entry": entry})

    def finalize(self):
        # Bulk loads (COPY) instead of one ORM object per row: same rows, many times faster
        for table, rows in self.pending.items():
            if rows:
                columns = list(rows[0])
                copy(self.connection, table.__tablename__, columns, (tuple(row[column] for column in columns) for row in rows))

                # Hash bits and blocks of the new rows
                if table is Section:
                    self.blocks.insert([row["indexid"] for row in rows], [row["text"] for row in rows])
                    self.added += len(rows)

                rows.clear()

        super().finalize()

    def delete(self, ids):
        if self.connection:
            self.lock()

            # Hash rows first: they are found through the sections rows deleted next
            self.batch(ids=ids)
            self.blocks.delete()

        super().delete(ids)

    def reindex(self, config):
        yield from super().reindex(config)

        # Index ids are renumbered: hashes again from the new sections table
        if self.connection:
            self.blocks.create()
            self.blocks.fill()

    def execute(self, function, *args):
        # User queries: near(text, hash, radius) predicates become exact multi-index hashing lookups
        if args and isinstance(args[0], str) and "near(" in args[0].lower():
            args = rewrite(self.blocks, *args)

        return super().execute(function, *args)

    def pairs(self, threshold, part=0, parts=1):
        """
        All pairs of distinct hashes within threshold bits of each other, found inside the database (see
        txtai_imagehash.postgres.pairs). Several workers can share the work: worker part of parts finds its share.

        Args:
            threshold: maximum distance in bits
            part: this worker's share, 0 to parts - 1
            parts: number of shares

        Returns:
            list of (hex hash, hex hash, distance)
        """

        return pairs(self.connection, self.blocks, threshold, part, parts)

    def save(self, path):
        # Planner statistics after a bulk load, so that queries probe the block indexes
        if self.connection and self.added and self.blocks.stale(self.added):
            self.blocks.analyze()
        self.added = 0

        super().save(path)

        # Commit releases the writer lock
        self.locked = False

    def close(self):
        super().close()
        self.locked = False

        # A closed database is no longer the one its ANN searches through
        key = id(self.config.get("postgres"))
        if OPEN.get(key) is self:
            del OPEN[key]

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
