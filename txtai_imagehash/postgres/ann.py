"""
ANN module: txtai's pgvector index of binary hash vectors, with settings under the `pgvector` key.
"""

import os

from sqlalchemy import func, text as textsql

from txtai.ann.dense.pgvector import PGVector as TxtaiPGVector

from ..checks import integer
from . import driver


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
