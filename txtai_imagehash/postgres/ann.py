"""
ANN module: the vector index backends of an image hash index in PostgreSQL. HammingIndex searches the hash blocks
of the content database exactly (multi-index hashing, txtai_imagehash.postgres.blocks); PGVector is txtai's pgvector
index of binary vectors (HNSW: approximate), with ids continued from the database.
"""

import os

import numpy as np

from sqlalchemy import StaticPool, create_engine, func, text as textsql
from sqlalchemy.orm import Session

from txtai.ann import ANN
from txtai.ann.dense.pgvector import PGVector as TxtaiPGVector

from ..checks import integer
from ..hashing.algorithms import nbits
from ..hashing.codec import tohex
from ..settings import read as settings
from . import driver
from .blocks import Blocks
from .database import OPEN


class HammingIndex(ANN):
    """
    Exact Hamming nearest-neighbor search inside PostgreSQL, without pgvector: the content database
    (txtai_imagehash.postgres.PostgreSQL) keeps every row's hash as native bits and blocks in its `hashes` table,
    and this index answers vector queries from it by multi-index hashing (B-tree probes of enumerated block values,
    bit_count verification, see txtai_imagehash.postgres.blocks). Results are the exact nearest rows, as faiss
    BFlat or txtai_imagehash.ann.HammingIndex return them (ties by index id).

    It stores nothing itself: the content database writes, deletes and commits the hashes with its rows, and
    searches run through the content database's connection, so they see the current transaction's rows.

    Configure with `"backend": "txtai_imagehash.postgres.HammingIndex"`, `"quantize": 1` and the PostgreSQL content
    database (txtai_imagehash.postgres.config(url, vectors=True) does). Settings under the `hamming` key:
    `maxdistance` (default None): return only rows within this many bits, which bounds the work of every query
    (one set of index probes, never a scan); None returns the nearest rows at any distance, scanning the hashes
    table when fewer than limit rows are within a small radius.
    """

    def __init__(self, config):
        super().__init__(config)

        if config.get("quantize") != 1:
            raise ValueError("HammingIndex indexes binary vectors: set quantize: 1")

        # Own connection, only when no content database of this index is open in this process
        self.engine, self.session, self.fallback = None, None, None

        # Bits per hash
        self.length = None

    def load(self, path):
        # The hashes live in the database
        pass

    def index(self, embeddings):
        # The content database has written the hashes: planner statistics for the block indexes
        self.blocks().analyze()

        self.config["offset"] = embeddings.shape[0]
        self.metadata({"maxdistance": self.setting("maxdistance")})

    def append(self, embeddings):
        self.config["offset"] = self.config.get("offset", 0) + embeddings.shape[0]
        self.metadata()

    def delete(self, ids):
        # The content database deleted the hashes of these rows with the rows
        pass

    def search(self, queries, limit, maxdistance=None):
        """
        Searches the nearest rows of queries.

        Args:
            queries: uint8 array of packed hash bits, one row per query
            limit: rows per query
            maxdistance: largest distance returned: an int, one int per query, or None for the `maxdistance` setting

        Returns:
            list of [(index id, score)] per query
        """

        blocks = self.blocks()
        if maxdistance is None:
            maxdistance = integer("hamming maxdistance", self.setting("maxdistance"), 0)

        maxdistance = maxdistance if isinstance(maxdistance, (list, tuple)) else [maxdistance] * len(queries)

        if not self.length:
            values = settings(self.config)
            self.length = nbits(values["algorithm"], values["size"])

        size, results = self.config["dimensions"] * 8, []
        for query, bound in zip(np.asarray(queries, dtype=np.uint8), maxdistance):
            value = tohex(np.unpackbits(query)[: self.length])
            rows = blocks.search(value, limit, bound)
            results.append([(indexid, min(max(0.0, 1.0 - distance / size), 1.0)) for indexid, distance in rows])

        return results

    def count(self):
        return self.blocks().count()

    def save(self, path):
        # The content database commits the hashes with its rows
        pass

    def close(self):
        super().close()
        if self.engine:
            self.session.close()
            self.engine.dispose()
            self.engine, self.session, self.fallback = None, None, None

    def setting(self, name, default=None):
        return (self.config.get("hamming") or {}).get(name, default)

    def blocks(self):
        """
        Gets the hashes table: through the content database of this index when it is open in this process (the same
        `postgres` settings dict), else through an own connection (rows committed by others).

        Returns:
            txtai_imagehash.postgres.blocks.Blocks
        """

        database = OPEN.get(id(self.config.get("postgres")))
        if database is not None and database.connection is not None and database.blocks is not None:
            return database.blocks

        if not self.fallback:
            url = driver((self.config.get("postgres") or {}).get("url") or os.environ.get("CLIENT_URL"))
            if not url:
                raise ValueError("HammingIndex needs the PostgreSQL content database: set config['postgres']['url'] or CLIENT_URL")

            self.engine = create_engine(url, poolclass=StaticPool, echo=False)
            self.session = Session(self.engine.connect())
            if self.config.get("schema"):
                self.session.execute(textsql("SET search_path TO :schema"), {"schema": self.config["schema"]})

            stored = Blocks.describe(self.session)
            if stored is None:
                raise ValueError("HammingIndex: no hashes table in this schema; open the index with its content database first")

            self.fallback = Blocks(self.session, stored["digits"], stored["perword"])

        return self.fallback


class PGVector(TxtaiPGVector):
    """
    txtai's pgvector index of binary vectors, with settings under the `pgvector` key and index ids continued from
    the largest one in the database on append. Writers are serialized by the lock of the PostgreSQL content
    database, so the vectors appended get the same index ids as their content rows.

    Configure with `"backend": "txtai_imagehash.postgres.PGVector"` and `"pgvector": {"url": ...}`. Settings are
    those of txtai's pgvector backend (url, schema, table, m, efconstruction) plus `efsearch`, pgvector's
    hnsw.ef_search for this index's queries (pgvector's default is 40: higher finds more of the true nearest rows).
    HNSW is approximate: txtai_imagehash.postgres.HammingIndex is the exact index.
    """

    def connect(self):
        super().connect()

        efsearch = self.setting("efsearch")
        if efsearch:
            integer("pgvector efsearch", efsearch, 1, 1000)
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
