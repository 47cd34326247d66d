"""
Database module: the content database of an image hash index in PostgreSQL.
"""

import os

from sqlalchemy import StaticPool, create_engine, insert, text as textsql
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateSchema

from txtai.database.client import Client
from txtai.database.schema import Document, Object, Section

from . import driver
from .functions import LOCKSPACE, install


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
