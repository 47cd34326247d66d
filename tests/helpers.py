"""
Helpers shared by the tests: the command line in a subprocess, file snapshots, saved index rows, a free port, and
pages rendered in headless Chromium.
"""

import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import zlib

from txtai import Embeddings

# Headless browser for the report (Debian package chromium, installed by .ci/run)
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def run(*args, cwd=None):
    """
    Runs the command line in a new process, as a user does.

    Returns:
        CompletedProcess with text stdout and stderr
    """

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "txtai_imagehash", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=300, check=False
    )


def snapshot(folder):
    """
    Every file below folder with its bytes, by relative path.
    """

    files = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = f.read()

    return files


def rows(index):
    """
    Reads the file rows of a saved index.

    Returns:
        {id: row}
    """

    embeddings = Embeddings()
    embeddings.load(str(index))
    try:
        # Files: not the second rows of robust images (their hash inside a border)
        rows = embeddings.search("select id, path, text, size, mtime, width, image from txtai", limit=1000)
        return {row["id"]: row for row in rows if row.get("image") in (None, row["id"])}
    finally:
        # An open connection would lock the index for the next command
        embeddings.close()


def port():
    """
    A free TCP port on 127.0.0.1.
    """

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def check(report):
    """
    Opens a report in headless Chromium and reads back what the page saw: images, loaded images, groups.

    Returns:
        {"images": n, "loaded": n, "groups": n, "keepers": n}
    """

    script = """<script>
    window.addEventListener("load", () => {
        const images = [...document.images];
        const result = {
            images: images.length,
            loaded: images.filter(image => image.complete && image.naturalWidth > 0).length,
            groups: document.querySelectorAll("section.group").length,
            keepers: document.querySelectorAll("section.group figure.keeper").length
        };
        const output = document.createElement("pre");
        output.id = "result";
        output.textContent = JSON.stringify(result);
        document.body.appendChild(output);
    });
    </script>"""

    page = report.parent / "check.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", script + "</body>"), encoding="utf-8")

    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={report.parent / 'chromium'}",
        "--virtual-time-budget=10000",
        "--dump-dom",
        page.as_uri(),
    ]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout

    match = re.search(r'<pre id="result">(.*?)</pre>', dom)
    assert match, dom[-2000:]
    return json.loads(match.group(1))


class Serve:
    """
    `txtai-imagehash serve` in a new process on a free port, as a context manager that waits until the API answers
    and stops the server on exit.
    """

    def __init__(self, *args, timeout=120):
        """
        Args:
            args: serve arguments, e.g. "--index", path, "--read-only"
            timeout: seconds to wait for the API
        """

        self.port = port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args, self.timeout, self.process, self.output = [str(arg) for arg in args], timeout, None, None

    def __enter__(self):
        # pylint: disable=C0415,R1732
        import time
        import urllib.request

        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "txtai_imagehash", "serve", *self.args, "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

        deadline = time.time() + self.timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/count", timeout=5):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    raise AssertionError(f"serve exited with code {self.process.returncode}: {self.process.stdout.read()}") from None
                if time.time() > deadline:
                    self.stop()
                    raise AssertionError(f"serve did not answer within {self.timeout} s: {self.output}") from None
                time.sleep(0.3)

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """
        Stops the server (SIGTERM, as a service manager does) and keeps its output in self.output.
        """

        if self.process and self.process.poll() is None:
            self.process.terminate()
        if self.process:
            self.output = self.process.communicate(timeout=60)[0]


def png(path, width, height, mode=0):
    """
    Writes a valid grey PNG of any size without holding its pixels in memory: rows of zeros, compressed
    as they are generated. This is how decompression bombs are made.
    """

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor, row = zlib.compressobj(9), b"\x00" * (width + 1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, mode, 0, 0, 0)))
        data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
        f.write(chunk(b"IDAT", data) + chunk(b"IEND", b""))
