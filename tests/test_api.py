"""
The txtai API over the shipped YAML application, for real: two uvicorn servers on 127.0.0.1 (free ports, child
processes), image paths posted to /workflow, SQL with distance(...) through /search, and a txtai API cluster
(in-process, over the real ASGI app) that merges both servers as shards.
"""

import base64
import io
import multiprocessing
import os
import socket
import time

import httpx
import pytest

from fastapi.testclient import TestClient
from PIL import Image
from txtai.api import app

from txtai_imagehash import ImageHash, query
from txtai_imagehash import APPLICATION

from txtai_imagehash.samples import middle as crop

# Seconds to wait for a server to start
STARTUP = 60

# HTTP client, with a timeout for a busy machine
HTTP = httpx.Client(timeout=60)


def serve(config, port):
    """
    Runs the txtai API with uvicorn: the target of a server process.
    """

    # pylint: disable=C0415
    import uvicorn

    os.environ["CONFIG"] = str(config)
    uvicorn.run("txtai.api:app", host="127.0.0.1", port=port, log_level="warning")


class Server:
    """
    A txtai API server (uvicorn) in a child process, on a free port of 127.0.0.1. The child is forked from the test
    process, which has already imported txtai: that saves importing it again on a busy machine.
    """

    def __init__(self, config):
        """
        Starts the server.

        Args:
            config: path of the YAML configuration
        """

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]

        self.url = f"http://127.0.0.1:{self.port}"
        self.process = multiprocessing.get_context("fork").Process(target=serve, args=(config, self.port), daemon=True)
        self.process.start()

    def wait(self):
        """
        Waits until the server answers.
        """

        start = time.time()
        while time.time() - start < STARTUP and self.process.is_alive():
            try:
                if httpx.get(f"{self.url}/count", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)

        pytest.fail(f"txtai API server did not start on {self.url} (exit code {self.process.exitcode})")

    def close(self):
        """
        Stops the server.
        """

        self.process.terminate()
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


@pytest.fixture(scope="module")
def servers():
    """
    Two API servers over the shipped YAML, started in parallel.
    """

    servers = [Server(APPLICATION) for _ in range(2)]
    try:
        for server in servers:
            server.wait()
        yield servers
    finally:
        for server in servers:
            server.close()


@pytest.fixture(scope="module")
def halves(folder):
    """
    The folder's image paths split in two, the rocket photo in the first half.
    """

    files = sorted(str(path) for path in folder.iterdir())
    rocket = [name for name in files if name.endswith("rocket.jpg")]
    rest = [name for name in files if name not in rocket]
    return rocket + rest[::2], rest[1::2]


@pytest.fixture(scope="module")
def indexed(servers, halves):
    """
    Each server indexes one half of the folder through POST /workflow. Returns the workflow responses.
    """

    responses = []
    for server, files in zip(servers, halves):
        response = HTTP.post(f"{server.url}/workflow", json={"name": "index", "elements": files})
        response.raise_for_status()
        responses.append(response.json())

    return responses


def image(value):
    """
    Decodes an image object from a JSON response (base64 of the image file).
    """

    return Image.open(io.BytesIO(base64.b64decode(value)))


def test_workflow(servers, halves, indexed):
    """
    POST /workflow with image paths: one result per path with its hash, and every path indexed.
    """

    pipeline = ImageHash()
    for server, files, response in zip(servers, halves, indexed):
        assert response == [{"id": name, "path": name, "text": pipeline(name)} for name in files]
        assert HTTP.get(f"{server.url}/count").json() == len(files)


def test_search(servers, indexed, photos, tmp_path):
    """
    The crop's hash from the `hash` workflow, then GET /search and POST /batchsearch with a distance query: the
    rocket photo first, ascending distances, and its image object comes back as a usable image.
    """

    url = servers[0].url
    path = tmp_path / "crop.png"
    crop(photos["rocket"]).save(path)

    value = HTTP.post(f"{url}/workflow", json={"name": "hash", "elements": [str(path)]}).json()[0]
    assert value == ImageHash()(str(path))

    sql = query(value, select="id, path, object", limit=5)
    results = HTTP.get(f"{url}/search", params={"query": sql, "limit": 5}).json()
    assert os.path.basename(results[0]["path"]) == "rocket.jpg"

    distances = [row["distance"] for row in results]
    assert distances == sorted(distances) and distances[0] < distances[1]

    # The object is the image: decodes to the rocket photo, same hash as the file
    obj = image(results[0]["object"])
    assert obj.size == photos["rocket"].size
    assert ImageHash()(obj) == ImageHash()(results[0]["path"])

    # Same results through POST /batchsearch, with hamming too
    batch = HTTP.post(f"{url}/batchsearch", json={"queries": [sql, query(value, select="id", metric="hamming")], "limit": 5}).json()
    assert [row["id"] for row in batch[0]] == [row["id"] for row in results]
    assert batch[1][0]["id"] == results[0]["id"] and batch[1][0]["hamming"] < batch[1][1]["hamming"]


def test_upload_and_errors(servers, indexed, photos, tmp_path, request):
    """
    An image uploaded with POST /upload and indexed under its own id, next to a path that is not an image: the
    error names the file and the reason, the image is indexed.
    """

    url = servers[1].url
    data = io.BytesIO()
    crop(photos["coffee"]).save(data, format="PNG")

    uploaded = HTTP.post(f"{url}/upload", files={"files": ("coffee-crop.png", data.getvalue(), "image/png")}, data={"suffix": ".png"}).json()
    assert len(uploaded) == 1 and uploaded[0].endswith(".png")
    request.addfinalizer(lambda: os.remove(uploaded[0]))

    text = tmp_path / "notes.jpg"
    text.write_text("not an image")

    count = HTTP.get(f"{url}/count").json()
    response = HTTP.post(f"{url}/workflow", json={"name": "index", "elements": [str(text), ["coffee-crop", uploaded[0]]]}).json()
    assert response[0] == {"id": str(text), "path": str(text), "error": f"{text}: not a recognized image format"}
    assert response[1]["id"] == "coffee-crop" and response[1]["text"] == ImageHash()(crop(photos["coffee"]))
    assert HTTP.get(f"{url}/count").json() == count + 1

    rows = HTTP.get(f"{url}/search", params={"query": query(response[1]["text"], select="id, object", limit=1)}).json()
    assert rows[0]["id"] == "coffee-crop" and rows[0]["distance"] == 0
    assert image(rows[0]["object"]).size == crop(photos["coffee"]).size

    # Re-posting the id with a changed image replaces its row
    changed = tmp_path / "changed.png"
    crop(photos["chelsea"]).save(changed)
    response = HTTP.post(f"{url}/workflow", json={"name": "index", "elements": [["coffee-crop", str(changed)]]}).json()
    assert response[0]["text"] == ImageHash()(str(changed))
    assert HTTP.get(f"{url}/count").json() == count + 1

    rows = HTTP.get(f"{url}/search", params={"query": "select id, text from txtai where id = 'coffee-crop'"}).json()
    assert rows == [{"id": "coffee-crop", "text": response[0]["text"]}]


def test_cluster(servers, indexed, photos, tmp_path, monkeypatch):
    """
    A txtai API cluster over both servers: one /search merges the shards' rows in distance order.
    """

    config = tmp_path / "cluster.yml"
    config.write_text(f"cluster:\n  shards:\n    - {servers[0].url}\n    - {servers[1].url}\n", encoding="utf-8")
    monkeypatch.setenv("CONFIG", str(config))

    value = ImageHash()(crop(photos["rocket"]))
    sql = query(value, select="id, path", limit=250, cluster=True)

    # Each shard on its own, then the union in distance order
    shards = [HTTP.get(f"{server.url}/search", params={"query": sql, "limit": 250}).json() for server in servers]
    expected = sorted((row["distance"], row["id"]) for rows in shards for row in rows)
    assert all(shards)

    with TestClient(app) as client:
        assert client.get("/count").json() == sum(len(rows) for rows in shards)

        results = client.get("/search", params={"query": sql, "limit": 250}).json()
        assert [row["distance"] for row in results] == [distance for distance, _ in expected]
        assert sorted((row["distance"], row["id"]) for row in results) == expected
        assert os.path.basename(results[0]["path"]) == "rocket.jpg"

        # Rows from both shards are interleaved by distance, not concatenated shard by shard
        first = {row["id"] for row in shards[0]}
        owners = [row["id"] in first for row in results]
        assert owners != sorted(owners, reverse=True)

        # The top 5 across shards
        top = client.get("/search", params={"query": query(value, select="id", limit=5, cluster=True), "limit": 5}).json()
        assert [row["distance"] for row in top] == [distance for distance, _ in expected[:5]]
