"""
tests.tar.gz-fetch.sh: extracts txtai's test images, is idempotent, and fails clearly without network.
"""

import functools
import http.server
import subprocess
import tarfile
import threading

from pathlib import Path

from PIL import Image

SCRIPT = Path(__file__).parent.parent / "tests.tar.gz-fetch.sh"


def run(dest, url):
    """
    Runs the fetch script with a download address.
    """

    return subprocess.run(["bash", str(SCRIPT), str(dest)], env={"PATH": "/usr/bin:/bin", "TXTAI_TESTS_URL": url}, capture_output=True, text=True, timeout=60)


def test_fetch_extracts_and_is_idempotent(tmp_path, photos):
    """
    Served from a local HTTP server: only txtai/*.jpg is extracted, and a second run downloads nothing.
    """

    # An archive shaped like txtai's tests.tar.gz
    source = tmp_path / "source"
    (source / "txtai").mkdir(parents=True)
    photos["coffee"].save(source / "txtai" / "coffee.jpg")
    (source / "txtai" / "article.pdf").write_bytes(b"%PDF-1.4")
    with tarfile.open(tmp_path / "tests.tar.gz", "w:gz") as archive:
        archive.add(source / "txtai", arcname="txtai")

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/tests.tar.gz"

    try:
        dest = tmp_path / "images"
        result = run(dest, url)
        assert result.returncode == 0, result.stderr
        assert sorted(path.name for path in (dest / "txtai").iterdir()) == ["coffee.jpg"]
        assert Image.open(dest / "txtai" / "coffee.jpg").size == photos["coffee"].size

        # Idempotent: the archive is gone, the script still succeeds without downloading
        (tmp_path / "tests.tar.gz").unlink()
        result = run(dest, url)
        assert result.returncode == 0 and "already" in result.stdout
    finally:
        server.shutdown()


def test_fetch_fails_clearly_without_network(tmp_path):
    """
    An unreachable address gives a clear message and a non-zero exit.
    """

    result = run(tmp_path / "images", "http://127.0.0.1:9/tests.tar.gz")
    assert result.returncode != 0
    assert "could not download" in result.stderr
    assert not list((tmp_path / "images").glob("txtai/*.jpg"))
