"""
The YAML application shipped with the package: txtai.app.Application runs the `index` workflow over image paths,
then SQL with distance(...) and hamming(...) finds near-duplicates.
"""

import os

import pytest

from PIL import Image
from txtai import Embeddings
from txtai.app import Application

from txtai_imagehash import ImageHash, config, distance, documents, hamming, query
from txtai_imagehash.sql import FUNCTIONS
from txtai_imagehash import APPLICATION

from txtai_imagehash.samples import middle as crop


def application(**embeddings):
    """
    Creates an Application from the shipped YAML, with optional embeddings overrides.
    """

    config = Application.read(APPLICATION)
    config["embeddings"].update(embeddings)
    return Application(config)


def paths(folder):
    """
    Image files of the folder fixture, sorted.
    """

    return sorted(str(path) for path in folder.iterdir())


@pytest.fixture(scope="module")
def indexed(folder):
    """
    The shipped application with the folder indexed through its `index` workflow, and the workflow's results.
    """

    app = application()
    return app, list(app.workflow("index", paths(folder)))


def test_workflow_indexes_paths(indexed, folder):
    """
    Every path becomes a row: id and path are the file path, text is the pipeline's hash, object the original file.
    """

    app, results = indexed
    files = paths(folder)
    pipeline = ImageHash()

    assert [result["id"] for result in results] == files
    assert [result["text"] for result in results] == pipeline(files)
    assert app.count() == len(files)

    rows = {row["id"]: row for row in app.search("select id, path, text, object from txtai", limit=100)}
    assert sorted(rows) == files
    for name in files:
        row = rows[name]
        assert row["path"] == name and row["text"] == pipeline(name)

        # The original file, not a re-encoding: same format, same pixels
        with Image.open(name) as original:
            assert row["object"].format == original.format
            assert row["object"].tobytes() == original.convert(row["object"].mode).tobytes()


def test_crop_finds_original(indexed, photos, tmp_path):
    """
    The article's crop of the rocket photo: distance and hamming both rank the original first, in ascending
    order, with the values the SQL functions compute.
    """

    app, _ = indexed
    path = tmp_path / "crop.png"
    crop(photos["rocket"]).save(path)

    # Hash the query through the application's pipeline, as an API client would with the `hash` workflow
    value = list(app.workflow("hash", [str(path)]))[0]
    assert value == ImageHash()(str(path))

    rows = {row["id"]: row["text"] for row in app.search("select id, text from txtai", limit=100)}
    for metric, function in [("distance", distance), ("hamming", hamming)]:
        results = app.search(query(value, select="id, path, object", metric=metric, limit=5))
        assert os.path.basename(results[0]["path"]) == "rocket.jpg"
        assert results[0]["object"].size == photos["rocket"].size

        values = [row[metric] for row in results]
        assert values == sorted(values) and values[0] < values[1]
        assert values == [function(rows[row["id"]], value) for row in results]


def test_ids_and_tags(tmp_path, photos):
    """
    [id, path] and [id, path, tags] elements (JSON lists over the API) keep their ids and tags.
    """

    path = tmp_path / "coffee.jpg"
    photos["coffee"].save(path)

    app = application()
    results = list(app.workflow("index", [["first", str(path)], ["second", str(path), "kitchen"]]))
    assert [result["id"] for result in results] == ["first", "second"]

    rows = app.search("select id, tags, path from txtai order by id", limit=10)
    assert [(row["id"], row["tags"], row["path"]) for row in rows] == [("first", None, str(path)), ("second", "kitchen", str(path))]


def test_bad_elements(folder, tmp_path):
    """
    A file that is not an image, a missing file, a folder and a malformed element each get an error naming them and
    the reason; the rest of the batch is indexed.
    """

    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"

    files = paths(folder)
    elements = [str(text)] + files[:3] + [str(missing), str(tmp_path), ["a", "b", "c", "d"]] + files[3:]

    app = application()
    results = list(app.workflow("index", elements))
    assert len(results) == len(elements)

    errors = [result for result in results if "error" in result]
    assert [error["id"] for error in errors] == [str(text), str(missing), str(tmp_path), None]
    assert errors[0]["error"] == f"{text}: not a recognized image format"
    assert errors[1]["error"] == f"{missing}: file not found"
    assert errors[2]["error"].startswith(f"{tmp_path}: ")
    assert "expected a path, (id, image) or (id, image, tags)" in errors[3]["error"]

    assert app.count() == len(files)
    assert sorted(row["id"] for row in app.search("select id from txtai", limit=100)) == files


def test_upsert_replaces_row(tmp_path, photos):
    """
    Re-posting a path whose image changed replaces its row: same count, new hash, new image.
    """

    path, other = tmp_path / "photo.jpg", tmp_path / "other.jpg"
    photos["coffee"].save(path)
    photos["camera"].save(other)

    app = application()
    list(app.workflow("index", [str(path), str(other)]))
    before = ImageHash()(str(path))

    photos["astronaut"].save(path)
    after = ImageHash()(str(path))
    assert after != before

    result = list(app.workflow("index", [str(path)]))
    assert result == [{"id": str(path), "path": str(path), "text": after}]

    assert app.count() == 2
    rows = app.search(query(after, select="id, text, object", limit=1))
    assert rows[0]["id"] == str(path) and rows[0]["distance"] == 0
    assert rows[0]["object"].size == photos["astronaut"].size
    assert app.search(f"select id from txtai where text = '{before}'") == []


def test_duckdb(indexed, folder, photos):
    """
    The same application with DuckDB content: distance returns integers, ordered numerically (DuckDB takes the
    SQL return type from the function's type hints), and the same rows as SQLite.
    """

    app = application(content="duckdb")
    list(app.workflow("index", paths(folder)))

    value = ImageHash()(crop(photos["rocket"]))
    sql = query(value, select="id", limit=100)
    results = app.search(sql)

    values = [row["distance"] for row in results]
    assert all(isinstance(x, int) for x in values)
    assert values == sorted(values)

    # Below and above 10: text ordering would put "10" before "7"
    assert values[0] < 10 <= values[-1]
    assert os.path.basename(results[0]["id"]) == "rocket.jpg"

    # Same rows and distances as SQLite
    sqlite, _ = indexed
    assert sorted((row["id"], row["distance"]) for row in results) == sorted((row["id"], row["distance"]) for row in sqlite.search(sql))


def test_duckdb_embeddings(tmp_path, folder):
    """
    Plain Embeddings with DuckDB content: the functions passed as callables keep their int return type, also after
    save() and load() with the same functions.
    """

    functions = [{"name": "distance", "function": distance, "deterministic": True}]
    embeddings = Embeddings(config(content="duckdb", functions=functions))
    embeddings.index(documents(paths(folder)))
    embeddings.save(str(tmp_path / "index"))

    embeddings = Embeddings()
    embeddings.load(str(tmp_path / "index"), config={"functions": functions})

    values = [row["distance"] for row in embeddings.search(query("0" * 16, select="id", limit=100))]
    assert all(isinstance(x, int) for x in values) and values == sorted(values) and values[0] < 10 <= values[-1]


def test_persisted_index(tmp_path, folder):
    """
    With `path:` the workflow saves the index, and a new Application loads it with the SQL functions registered.
    """

    def create():
        # A fresh config each time: txtai resolves workflow tasks in place
        config = Application.read(APPLICATION)
        config["path"] = str(tmp_path / "index")
        return Application(config)

    files = paths(folder)
    list(create().workflow("index", files[:4]))

    app = create()
    assert app.count() == 4

    value = ImageHash()(files[2])
    assert app.search(query(value, select="id", limit=1)) == [{"id": files[2], "distance": 0}]

    # Plain Embeddings: txtai saved the resolved functions as text, so they are passed again when loading
    embeddings = Embeddings()
    embeddings.load(str(tmp_path / "index"), config={"functions": FUNCTIONS})
    assert embeddings.search(query(value, select="id", limit=1)) == [{"id": files[2], "distance": 0}]


def test_docs_show_application():
    """
    The application page of the docs shows the shipped application, word for word.
    """

    page = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "application.md")
    with open(page, encoding="utf-8") as f:
        section = f.read().split("# YAML application and API", 1)[1]

    with open(APPLICATION, encoding="utf-8") as f:
        assert section.split("```yaml\n", 1)[1].split("```", 1)[0].strip() == f.read().strip()


def test_failed_batches_leave_no_files(tmp_path, monkeypatch):
    """
    An `index` workflow call in which every element fails leaves no buffer file behind (txtai's documents buffer,
    a tmp*.docs file, is only removed by an upsert that has documents).
    """

    # pylint: disable=C0415
    import tempfile

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))

    (tmp_path / "notes.jpg").write_text("not an image")
    app = application()
    for _ in range(3):
        results = list(app.workflow("index", [str(tmp_path / "notes.jpg"), str(tmp_path / "missing.jpg")]))
        assert [result["error"].split(": ")[-1] for result in results] == ["not a recognized image format", "file not found"]

    assert not list(private.iterdir())

    # A batch with an image still indexes it, and cleans up after itself
    image = tmp_path / "image.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(image)
    assert "text" in list(app.workflow("index", [str(image)]))[0] and app.count() == 1
    assert not list(private.iterdir())
