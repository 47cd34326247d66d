"""
`txtai-imagehash serve` for real (uvicorn in a new process, HTTP on 127.0.0.1): writes are crash-safe versions of the
saved index under its write lock, /index cannot replace the saved index, a read-only server refuses every write and
upload with 403, uploads are bounded and removed when the server stops, and an index with keypoints serves.
"""

import base64
import glob
import os

import httpx
import pytest
import yaml

from txtai_imagehash import APPLICATION, ImageHash, query, storage
from txtai_imagehash.cli import main

from helpers import Serve, rows, run

# Servers in subprocesses
pytestmark = pytest.mark.slow

HTTP = httpx.Client(timeout=120)


@pytest.fixture
def indexed(tmp_path, photos):
    """
    Three photos indexed by the command line.

    Returns:
        (folder, index path)
    """

    folder, index = tmp_path / "photos", tmp_path / "index"
    folder.mkdir()
    for name in ["coffee", "rocket", "chelsea"]:
        photos[name].save(folder / f"{name}.jpg")

    # The recipe's index of one hash, as the package's application hashes
    assert main(["index", str(folder), "--index", str(index), "--algorithm", "average", "--store-images", "--quiet"]) == 0
    return folder, index


def complete(index):
    """
    Complete versions of a saved index, oldest first.
    """

    return sorted(os.path.dirname(marker) for marker in glob.glob(os.path.join(storage.versions(str(index)), "*", storage.MARKER)))


def test_writes_are_versions(indexed):
    """
    A writable server: /add then /index is refused (it would replace the saved index), /upsert and /delete each save
    a new version and keep the previous one, and another writer is refused while the server runs.
    """

    folder, index = indexed
    before, versions = rows(index), complete(index)

    with Serve("--index", index) as server:
        # The server holds the index's write lock
        result = run("index", folder, "--index", index)
        assert result.returncode == 2 and f"is being written by process {server.process.pid}" in result.stderr, result.stderr

        value = ImageHash()(str(folder / "coffee.jpg"))
        assert HTTP.post(f"{server.url}/add", json=[{"id": "extra", "text": value}]).status_code == 200

        response = HTTP.get(f"{server.url}/index")
        assert response.status_code == 403 and "use /upsert" in response.json()["detail"]
        assert rows(index) == before and complete(index) == versions

        assert HTTP.get(f"{server.url}/upsert").status_code == 200
        after = rows(index)
        assert set(after) == set(before) | {"extra"} and after["extra"]["text"] == value
        assert len(complete(index)) == len(versions) + 1 and complete(index)[:-1] == versions

        # The previous version still holds the rows as they were
        previous = storage.load(complete(index)[-2])
        assert previous.count() == len(before)
        previous.close()

        assert HTTP.post(f"{server.url}/delete", json=["extra"]).json() == ["extra"]
        assert rows(index) == before and len(complete(index)) == len(versions) + 2
        assert HTTP.get(f"{server.url}/count").json() == len(before)

        # The index workflow adds through the same versions
        HTTP.post(f"{server.url}/workflow", json={"name": "index", "elements": [str(folder / "coffee.jpg")]}).raise_for_status()

    assert set(rows(index)) == set(before)


def test_read_only(indexed, photos, tmp_path):
    """
    --read-only: the index workflow and /upload answer 403, searching works, and other writers are not blocked.
    """

    folder, index = indexed
    with Serve("--index", index, "--read-only") as server:
        response = HTTP.post(f"{server.url}/workflow", json={"name": "index", "elements": [str(folder / "coffee.jpg")]})
        assert response.status_code == 403 and "read-only" in response.json()["detail"], response.text

        response = HTTP.post(f"{server.url}/upload", files={"files": ("a.jpg", b"data", "image/jpeg")}, data={"suffix": ".jpg"})
        assert response.status_code == 403 and "read-only" in response.json()["detail"], response.text

        value = ImageHash()(str(folder / "rocket.jpg"))
        results = HTTP.get(f"{server.url}/search", params={"query": query(value, select="id, object", limit=1)}).json()
        assert [row["id"] for row in results] == [str(folder / "rocket.jpg")] and results[0]["distance"] == 0

        # The object is the base64 of the image file, byte for byte
        assert base64.b64decode(results[0]["object"]) == (folder / "rocket.jpg").read_bytes()
        batch = HTTP.post(f"{server.url}/batchsearch", json={"queries": [query(value, select="id, object", limit=1)]}).json()
        assert base64.b64decode(batch[0][0]["object"]) == (folder / "rocket.jpg").read_bytes()

        photos["horse"].save(folder / "horse.jpg")
        result = run("index", folder, "--index", index, "--quiet")
        assert result.returncode == 0, result.stderr

    assert len(rows(index)) == 4


def test_uploads(indexed, photos, tmp_path):
    """
    Uploads go into a private folder, requests over the limit are refused before anything is written, suffixes are
    file extensions only, and the folder is gone when the server stops.
    """

    folder, index = indexed
    config = yaml.safe_load(open(APPLICATION, encoding="utf-8"))
    config["upload"] = {"limit": 60000}
    path = tmp_path / "app.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")

    image = tmp_path / "small.jpg"
    photos["coins"].resize((96, 96)).save(image)

    with Serve("--index", index, "--config", path) as server:
        response = HTTP.post(f"{server.url}/upload", files={"files": ("small.jpg", image.read_bytes(), "image/jpeg")}, data={"suffix": ".jpg"})
        assert response.status_code == 200, response.text
        [uploaded] = response.json()
        uploads = os.path.dirname(uploaded)
        assert os.path.basename(uploads).startswith("txtai-imagehash-uploads-") and uploaded.endswith(".jpg")

        response = HTTP.post(f"{server.url}/upload", files={"files": ("big.jpg", os.urandom(100000), "image/jpeg")})
        assert response.status_code == 413 and "over the limit of 60000 bytes" in response.json()["detail"]

        response = HTTP.post(f"{server.url}/upload", files={"files": ("x.jpg", b"x", "image/jpeg")}, data={"suffix": "/../../x"})
        assert response.status_code == 422
        assert os.listdir(uploads) == [os.path.basename(uploaded)]

        response = HTTP.post(f"{server.url}/workflow", json={"name": "index", "elements": [["uploaded", uploaded]]})
        assert response.json()[0]["text"] == ImageHash()(str(image))

    assert not os.path.exists(uploads)
    assert "uploaded" in rows(index)


def test_keypoints(tmp_path, photos):
    """
    An index built with --keypoints serves (it failed at startup with an unexpected keyword 'keypoints'): /search and
    the hash workflow with the index's settings.
    """

    pytest.importorskip("cv2")
    folder, index = tmp_path / "photos", tmp_path / "index"
    folder.mkdir()
    for name in ["coffee", "rocket"]:
        photos[name].save(folder / f"{name}.jpg")

    result = run("index", folder, "--index", index, "--algorithm", "average", "--keypoints", "--quiet")
    assert result.returncode == 0, result.stderr

    with Serve("--index", index, "--read-only") as server:
        value = HTTP.post(f"{server.url}/workflow", json={"name": "hash", "elements": [str(folder / "rocket.jpg")]}).json()[0]
        assert value == ImageHash()(str(folder / "rocket.jpg"))

        results = HTTP.get(f"{server.url}/search", params={"query": query(value, select="id", metric="hamming", limit=2)}).json()
        assert results[0] == {"id": str(folder / "rocket.jpg"), "hamming": 0} and len(results) == 2


def test_delete_robust(tmp_path, photos):
    """
    /delete of an image of a robust (command line default) index deletes its second rows (zooms) too: none is left
    in the saved index.
    """

    folder, index = tmp_path / "photos", tmp_path / "index"
    folder.mkdir()
    for name in ["coffee", "rocket"]:
        photos[name].save(folder / f"{name}.jpg")

    assert main(["index", str(folder), "--index", str(index), "--quiet"]) == 0
    coffee = str(folder / "coffee.jpg")
    loaded = storage.load(str(index))
    assert sum(row["image"] == coffee for row in loaded.search("select image from txtai", 100)) > 1
    loaded.close()

    with Serve("--index", index) as server:
        assert HTTP.post(f"{server.url}/delete", json=[coffee]).json() == [coffee]

    loaded = storage.load(str(index))
    assert {row["image"] for row in loaded.search("select image from txtai", 100)} == {str(folder / "rocket.jpg")}
    loaded.close()
