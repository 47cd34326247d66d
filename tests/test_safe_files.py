"""
Hostile files named like images (issue 16, item 1): the endless /dev/zero, a FIFO that blocks whoever opens it and an
8 GB sparse file. Every path that opens files refuses them with a clear per-file error, without blocking and without
reading them: single images, documents(), the YAML application's workflows (in-process and over HTTP), the keypoint
index reading rows' paths, and the command line. Each runs in a child process with a time limit and a 4 GiB address
space limit, so that a regression fails the test instead of hanging it or eating the machine's memory.
"""

import json
import os
import resource
import subprocess
import sys
import time

import httpx
import pytest

from helpers import port, rows

from txtai_imagehash import APPLICATION, ImageError, ImageHash
from txtai_imagehash.images import MAX_FILE_BYTES, read

# Address space limit of the child processes: txtai, torch and OpenCV need about 2 GB
MEMORY = 4 * 1024**3

# Seconds a child process may take
TIMEOUT = 240

# The size of the sparse file: the 8 GB movie
SPARSE = 8 * 1024**3


def limit():
    """
    Limits the address space of a child process.
    """

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


def child(command, **kwargs):
    """
    Runs a child process with the memory and time limits. A child that hangs fails the test.

    Returns:
        CompletedProcess with text output
    """

    env = {**os.environ, "HF_HUB_OFFLINE": "1", **kwargs.pop("env", {})}
    try:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=TIMEOUT, preexec_fn=limit, check=False, **kwargs)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{command[:3]} did not finish in {TIMEOUT} s (blocked on a FIFO or reading an endless file): {error.stderr}")


def python(script, *args):
    """
    Runs a Python script in a limited child process.

    Returns:
        CompletedProcess
    """

    return child([sys.executable, "-c", script, *map(str, args)])


@pytest.fixture
def hostile(tmp_path, photos):
    """
    A folder with a real photo, a FIFO named x.jpg and an 8 GB sparse file named movie.jpg, and /dev/zero.

    Returns:
        dict name -> path
    """

    photos["coffee"].save(tmp_path / "coffee.jpg", quality=90)
    os.mkfifo(tmp_path / "x.jpg")
    with open(tmp_path / "movie.jpg", "wb") as f:
        f.truncate(SPARSE)

    return {"photo": tmp_path / "coffee.jpg", "fifo": tmp_path / "x.jpg", "sparse": tmp_path / "movie.jpg", "zero": "/dev/zero"}


# Reasons, as the errors give them
REASONS = {
    "fifo": "not a regular file (a FIFO)",
    "zero": "not a regular file (a character device)",
    "sparse": f"file too large: {SPARSE} bytes is over the limit of {MAX_FILE_BYTES} (txtai_imagehash.images.MAX_FILE_BYTES)",
}


def test_limit_is_a_setting(tmp_path, photos):
    """
    The size limit is MAX_FILE_BYTES by default and an argument where files are opened: a file over a given limit is
    refused with its size, one under it is read.
    """

    photos["coffee"].save(tmp_path / "coffee.jpg", quality=90)
    size = os.path.getsize(tmp_path / "coffee.jpg")

    assert read(tmp_path / "coffee.jpg") == (tmp_path / "coffee.jpg").read_bytes()
    with pytest.raises(ImageError) as error:
        read(tmp_path / "coffee.jpg", limit=size - 1)
    assert error.value.reason == f"file too large: {size} bytes is over the limit of {size - 1} (txtai_imagehash.images.MAX_FILE_BYTES)"

    # The header is checked before the rest is read: a large file that is no image is refused as such
    with open(tmp_path / "large.jpg", "wb") as f:
        f.write(b"not an image at all")
        f.truncate(100 * 1024**2)
    with pytest.raises(ImageError, match="not a recognized image format"):
        read(tmp_path / "large.jpg")


@pytest.mark.slow
def test_single_images_and_documents(hostile):
    """
    ImageHash and documents() refuse each hostile file with its reason, hash the photo, and stay small.
    """

    script = """
import json, resource, sys
from txtai_imagehash import ImageError, ImageHash, documents
names = sys.argv[1:]
single = {}
for name in names:
    try:
        single[name] = ImageHash()(name)
    except ImageError as error:
        single[name] = error.reason
errors = []
rows = [uid for uid, _, _ in documents([(name, name) for name in names], errors=errors)]
print(json.dumps({"single": single, "rows": rows, "errors": {e.source: e.reason for e in errors},
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""
    names = [str(hostile[key]) for key in ("zero", "fifo", "sparse", "photo")]
    result = python(script, *names)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)

    photo = str(hostile["photo"])
    assert output["rows"] == [photo]
    assert output["single"][photo] == ImageHash()(photo)
    for key, reason in REASONS.items():
        assert output["single"][str(hostile[key])] == reason, key
        assert output["errors"][str(hostile[key])] == reason, key

    # Nothing was read: the process stays at the size of Python, Pillow and txtai
    assert output["peak"] < 1024, output["peak"]


@pytest.mark.slow
def test_workflows(hostile):
    """
    The shipped YAML application, in-process: its index workflow answers an error record for each hostile file and
    indexes the photo; its hash workflow refuses the FIFO instead of waiting for a writer.
    """

    script = """
import json, sys
from txtai.app import Application
from txtai_imagehash import APPLICATION, ImageError
app = Application(APPLICATION)
names = sys.argv[1:]
results = list(app.workflow("index", names))
try:
    list(app.workflow("hash", [names[1]]))
    hashed = None
except ImageError as error:
    hashed = str(error)
print(json.dumps({"results": results, "count": app.count(), "hash": hashed}))
"""
    names = [str(hostile[key]) for key in ("zero", "fifo", "sparse", "photo")]
    result = python(script, *names)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)

    assert output["count"] == 1
    assert output["results"][3] == {"id": names[3], "path": names[3], "text": ImageHash()(names[3])}
    for key, element in zip(("zero", "fifo", "sparse"), output["results"]):
        name = str(hostile[key])
        assert element == {"id": name, "path": name, "error": f"{name}: {REASONS[key]}"}

    assert output["hash"] == f"{hostile['fifo']}: {REASONS['fifo']}"


@pytest.mark.slow
def test_api_server(hostile, tmp_path):
    """
    The txtai API over the shipped YAML (uvicorn in a child process): POST /workflow with /dev/zero answers an error
    record without the server growing; a FIFO posted to the hash workflow does not block the server.
    """

    address = f"http://127.0.0.1:{port()}"
    log = open(tmp_path / "server.log", "w", encoding="utf-8")  # pylint: disable=R1732
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CONFIG": APPLICATION}
    command = [sys.executable, "-m", "uvicorn", "txtai.api:app", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--log-level", "warning"]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=limit)  # pylint: disable=W1509
    try:
        client = httpx.Client(base_url=address, timeout=30)
        start = time.time()
        while time.time() - start < TIMEOUT:
            try:
                if client.get("/count").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail((tmp_path / "server.log").read_text())

        before = memory(server.pid)
        elements = [str(hostile["zero"]), str(hostile["sparse"]), str(hostile["photo"])]
        response = client.post("/workflow", json={"name": "index", "elements": elements})
        assert response.status_code == 200, response.text
        results = response.json()
        assert results[0]["error"] == f"/dev/zero: {REASONS['zero']}"
        assert results[1]["error"] == f"{hostile['sparse']}: {REASONS['sparse']}"
        assert results[2]["text"] == ImageHash()(str(hostile["photo"]))
        assert memory(server.pid) - before < 200, (before, memory(server.pid))

        # The FIFO: refused at once (the API drops the request with the pipeline's error, logged below), and every
        # endpoint still answers
        try:
            assert client.post("/workflow", json={"name": "hash", "elements": [str(hostile["fifo"])]}, timeout=20).status_code >= 400
        except httpx.ReadTimeout:
            pytest.fail("the hash workflow blocked on a FIFO")
        except httpx.TransportError:
            pass
        assert httpx.get(f"{address}/count", timeout=5).json() == 1

    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()

    assert f"{hostile['fifo']}: {REASONS['fifo']}" in (tmp_path / "server.log").read_text()


def memory(pid):
    """
    Peak resident memory of a process in MB.
    """

    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) // 1024


@pytest.mark.slow
def test_keypoints_read_paths_safely(hostile):
    """
    A keypoint index that reads rows' images from their paths (paths=True, as the command line builds it) skips a
    row whose path is a FIFO or the endless /dev/zero, and indexes the photo.
    """

    pytest.importorskip("cv2")
    script = """
import logging, sys
from txtai import Embeddings
from txtai_imagehash import ImageHash, config
from txtai_imagehash.keypoints import keypointconfig
logging.basicConfig()
names = sys.argv[1:]
embeddings = Embeddings(config(graph=keypointconfig(paths=True, exif=False)))
embeddings.index([(x, {"text": ImageHash()(names[-1]), "path": name}, None) for x, name in enumerate(names)])
print(embeddings.count(), embeddings.graph.count())
"""
    names = [str(hostile[key]) for key in ("zero", "fifo", "sparse", "photo")]
    result = python(script, *names)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["4", "1"]
    for key in ("zero", "fifo", "sparse"):
        assert f"{hostile[key]}: {REASONS[key]}" in result.stderr, key


@pytest.mark.slow
def test_command_line(hostile, tmp_path):
    """
    `txtai-imagehash index` over a folder with the sparse 8 GB movie.jpg: the run goes on, the photo is indexed and
    saved, and the movie is listed with its reason. (The walker lists regular files only, so the FIFO is not a file
    to hash.)
    """

    folder = hostile["photo"].parent
    index = tmp_path.parent / f"{tmp_path.name}-index"
    result = child([sys.executable, "-m", "txtai_imagehash", "index", str(folder), "--index", str(index), "--quiet"])
    assert result.returncode == 0, result.stderr
    assert f"{hostile['sparse']}: {REASONS['sparse']}" in result.stdout + result.stderr
    assert list(rows(index)) == [str(hostile["photo"])]
