"""
Command line tests: the `txtai-imagehash` commands run as a user runs them (subprocesses) on real photo folders,
and the HTML report opened in a real headless Chromium.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from PIL import Image
from txtai import Embeddings


from txtai_imagehash import ImageHash
from txtai_imagehash.cli import main
from txtai_imagehash.samples import middle as crop

from helpers import CHROMIUM, check, png, port, rows, run, snapshot

# Every test here runs the command line in subprocesses
pytestmark = pytest.mark.slow


@pytest.fixture
def library(tmp_path, photos):
    """
    A photo library as people have them: originals in subfolders, near-duplicates elsewhere, a text file, a
    truncated JPEG, and a symlink loop.
    """

    root = tmp_path / "library"
    (root / "camera" / "2023").mkdir(parents=True)
    (root / "phone").mkdir()
    (root / "notes").mkdir()

    for name in ["astronaut", "chelsea", "coffee", "rocket", "coins", "page"]:
        photos[name].save(root / "camera" / "2023" / f"{name}.jpg", quality=90)

    # Near-duplicates: a phone export at half size and a re-compressed copy
    astronaut = photos["astronaut"]
    astronaut.resize((astronaut.width // 2, astronaut.height // 2)).save(root / "phone" / "IMG_0001.jpg", quality=75)
    photos["chelsea"].save(root / "phone" / "IMG_0002.jpg", quality=35)

    (root / "notes" / "readme.txt").write_text("not an image\n")
    data = (root / "camera" / "2023" / "coins.jpg").read_bytes()
    (root / "phone" / "broken.jpg").write_bytes(data[: len(data) // 2])

    # A symlink loop: the walk must end and list each file once
    os.symlink("..", root / "camera" / "loop")

    return root


def test_usage_errors(tmp_path, capsys):
    """
    Usage errors exit with code 2 and say what to do.
    """

    # In this process, through the console script's entry point (the other tests check exit codes of real processes)
    image = tmp_path / "image.png"
    Image.new("RGB", (64, 64), (200, 10, 10)).save(image)

    for argv, message in [
        ([], "Start with 'txtai-imagehash demo'"),
        (["index", str(tmp_path / "missing"), "--index", str(tmp_path / "index")], "folder " + str(tmp_path / "missing") + " does not exist"),
        (["dedup"], "give a FOLDER, an --index PATH, or both"),
        (["search", str(image), "--index", str(tmp_path / "nothing")], "build one with 'txtai-imagehash index"),
        (["search", str(tmp_path / "missing.png"), "--index", str(tmp_path)], "is not a txtai index"),
        (["search", str(image), "--index", str(tmp_path), "-k", "0"], "expected an integer from 1 to"),
        (["dedup", str(tmp_path), "--move-to", str(tmp_path / "inside")], "is inside"),
        (["index", str(tmp_path), "--index", str(tmp_path / "i"), "--algorithm", "nope"], "unknown --algorithm"),
        (["undo", str(image)], "not a txtai-imagehash manifest"),
    ]:
        assert code(argv) == 2, argv
        error = capsys.readouterr().err
        assert message in error, (argv, error)

    # With an index: a query image that cannot be read, settings that differ from the index's
    folder, index = tmp_path / "images", tmp_path / "built"
    folder.mkdir()
    shutil.copy(image, folder / "image.png")
    assert main(["index", str(folder), "--index", str(index), "--quiet"]) == 0

    for argv, message in [
        (["search", str(tmp_path / "missing.png"), "--index", str(index)], "missing.png: file not found"),
        (["search", str(tmp_path), "--index", str(index)], "is a directory"),
        (["index", str(folder), "--index", str(index), "--algorithm", "perceptual"], "uses algorithm 'combined', not 'perceptual'"),
        (["serve", "--index", str(folder)], "no index at"),
    ]:
        assert code(argv) == 2, argv
        error = capsys.readouterr().err
        assert message in error, (argv, error)


def code(argv):
    """
    Runs the command line in this process and returns its exit code (argparse exits, commands return).
    """

    try:
        return main(argv)
    except SystemExit as error:
        return error.code


def test_index_reindex_search(tmp_path, library, photos):
    """
    index hashes every image of a folder tree, reports unreadable files without stopping, and a second run only
    hashes new and changed files and removes deleted ones. search finds the original of a crop.
    """

    index = tmp_path / "index"
    result = run("index", library, "--index", index)
    assert result.returncode == 0, result.stderr

    # 8 images once each (the symlink loop is not followed twice), the text file skipped, the broken file listed
    assert "8 added, 0 updated, 0 removed, 0 unchanged, 1 non-image files skipped; 8 images in the index" in result.stderr
    assert re.search(r"Could not read 1 file:\n\s+\S*broken\.jpg: .*truncated", result.stderr), result.stderr

    before = rows(index)
    expected = {str(path) for path in library.rglob("*.jpg") if "loop" not in path.parts and path.name != "broken.jpg"}
    assert set(before) == expected
    # The robust index: the combined hash of each file, oriented and as 8-bit pixels
    pipeline = ImageHash("combined", exif=True, normalize=True)
    for uid, row in before.items():
        assert row["text"] == pipeline(uid) and row["size"] == os.path.getsize(uid) and row["mtime"] == os.stat(uid).st_mtime_ns

    def seconds(image):
        embeddings = Embeddings()
        embeddings.load(str(index))
        try:
            return [row["id"] for row in embeddings.search("select id, image from txtai", 1000) if row["image"] == image and row["id"] != image]
        finally:
            embeddings.close()

    page = str(library / "camera" / "2023" / "page.jpg")
    assert len(seconds(page)) >= 3

    # Add one, change one (new content and size), delete one
    photos["clock"].save(library / "phone" / "IMG_0003.jpg", quality=90)
    changed = library / "camera" / "2023" / "coffee.jpg"
    photos["horse"].save(changed, quality=80)
    (library / "camera" / "2023" / "page.jpg").unlink()

    result = run("index", library, "--index", index)
    assert result.returncode == 0, result.stderr
    assert "1 added, 1 updated, 1 removed, 6 unchanged" in result.stderr and "broken.jpg" in result.stderr
    assert "8 images in the index" in result.stderr

    # The deleted file's second rows (its zooms) went with it
    assert not seconds(page)

    after = rows(index)
    assert set(after) == expected - {str(library / "camera" / "2023" / "page.jpg")} | {str(library / "phone" / "IMG_0003.jpg")}
    assert after[str(changed)]["text"] == pipeline(str(changed)) != before[str(changed)]["text"]

    # Unchanged files kept their rows
    for uid in expected - {str(changed), str(library / "camera" / "2023" / "page.jpg")}:
        assert after[uid] == before[uid]

    # The article's crop finds its original first
    query = tmp_path / "crop.jpg"
    crop(photos["rocket"]).save(query)
    result = run("search", query, "--index", index, "-k", "3", "--json")
    assert result.returncode == 0, result.stderr

    # The robust index answers with near-duplicates only, keypoint matches first: the crop's original and nothing else
    found = json.loads(result.stdout)
    assert [r["path"] for r in found["results"]] == [str(library / "camera" / "2023" / "rocket.jpg")]
    assert found["results"][0]["inliers"] >= 8

    # The recipe's index ranks every image by the distance of its one hash, nearest first
    result = run("index", library, "--index", tmp_path / "recipe", "--algorithm", "average", "--quiet")
    assert result.returncode == 0, result.stderr
    found = json.loads(run("search", query, "--index", tmp_path / "recipe", "-k", "3", "--json").stdout)
    assert len(found["results"]) == 3 and found["results"][0]["path"] == str(library / "camera" / "2023" / "rocket.jpg")
    assert [r["distance"] for r in found["results"]] == sorted(r["distance"] for r in found["results"])


def dedup(tmp_path, library):
    """
    Runs dedup over the library into a saved index, with a JSON file and an HTML report.

    Returns:
        (index path, groups, report path)
    """

    index = tmp_path / "index"
    output, report = tmp_path / "groups.json", tmp_path / "report.html"

    result = run("dedup", library, "--index", index, "--json", output, "--html", report, "--fail-on-duplicates", "--quiet")
    assert result.returncode == 1, result.stderr
    assert "2 duplicate groups, 2 duplicates" in result.stdout

    return index, json.loads(output.read_text()), report


def test_dedup_groups(tmp_path, library):
    """
    dedup finds the planted groups with the original as keeper, writes them as JSON and fails CI when asked.
    """

    _, groups, _ = dedup(tmp_path, library)
    found = {group["keeper"]: sorted(image["path"] for image in group["images"]) for group in groups}
    camera, phone = library / "camera" / "2023", library / "phone"
    assert found == {
        str(camera / "astronaut.jpg"): sorted([str(camera / "astronaut.jpg"), str(phone / "IMG_0001.jpg")]),
        str(camera / "chelsea.jpg"): sorted([str(camera / "chelsea.jpg"), str(phone / "IMG_0002.jpg")]),
    }


@pytest.mark.skipif(not CHROMIUM, reason="chromium is not installed (apt-get install chromium)")
def test_report_in_browser(tmp_path, library):
    """
    The HTML report in a real browser: every thumbnail decoded, one section per group, one keeper per group, no
    external files.
    """

    _, groups, report = dedup(tmp_path, library)
    page = check(report)
    assert page == {"images": sum(len(group["images"]) for group in groups), "loaded": page["images"], "groups": len(groups), "keepers": len(groups)}
    assert "data:image/jpeg;base64," in report.read_text() and 'src="file:' not in report.read_text()


def test_move_undo(tmp_path, library):
    """
    dedup --move-to moves the duplicates aside from a saved index, keeping their relative paths, the index follows,
    and undo puts every byte back.
    """

    original = snapshot(library)
    index, _, _ = dedup(tmp_path, library)
    camera, phone = library / "camera" / "2023", library / "phone"

    # Move the duplicates aside (from the saved index alone), keeping their paths relative to the library
    aside = tmp_path / "aside"
    result = run("dedup", "--index", index, "--move-to", aside)
    assert result.returncode == 0, result.stderr

    manifest = re.search(r"undo (\S+\.json)", result.stdout).group(1)
    moved = {path for path in snapshot(aside) if not path.endswith(".json")}
    assert moved == {os.path.join("phone", "IMG_0001.jpg"), os.path.join("phone", "IMG_0002.jpg")}
    assert not (phone / "IMG_0001.jpg").exists() and (camera / "astronaut.jpg").exists()

    # The index follows: the moved files are gone from it, with their second rows, so nothing is left to deduplicate
    assert set(rows(index)) == {str(path) for path in library.rglob("*.jpg") if "loop" not in path.parts and path.name != "broken.jpg"}
    embeddings = Embeddings()
    embeddings.load(str(index))
    images = {row["image"] for row in embeddings.search("select id, image from txtai", 1000)}
    embeddings.close()
    assert images == set(rows(index))

    # Undo: every byte back in place, nothing left aside but the manifest
    result = run("undo", manifest)
    assert result.returncode == 0, result.stderr
    assert "Put back 2 files" in result.stdout
    assert snapshot(library) == original
    assert [path for path in snapshot(aside) if not path.endswith(".json")] == []

    # A second undo changes nothing and says so
    assert main(["undo", manifest]) == 0
    assert snapshot(library) == original


def test_serve(tmp_path, library, photos, capsys):
    """
    serve runs the txtai API over an index built by the command line: /search with the plugin's SQL functions.
    """

    # Built in this process (the command line's index command is tested above): quiet prints only what failed. The
    # recipe's index, which the package's application also writes
    index = tmp_path / "index"
    assert main(["index", str(library), "--index", str(index), "--algorithm", "average", "--quiet"]) == 0
    error = capsys.readouterr().err
    assert error.startswith("Could not read 1 file:") and "added" not in error

    number = port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "txtai_imagehash", "serve", "--index", str(index), "--port", str(number)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    try:
        url, deadline = f"http://127.0.0.1:{number}", time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/count", timeout=5) as response:
                    assert int(response.read()) == 8
                    break
            except OSError:
                assert process.poll() is None, process.stdout.read().decode()
                assert time.time() < deadline, "API did not start"
                time.sleep(0.5)

        value = ImageHash()(crop(photos["rocket"]))
        sql = f"select id, hamming(text, '{value}') distance from txtai order by hamming(text, '{value}') limit 2"
        with urllib.request.urlopen(f"{url}/search?{urllib.parse.urlencode({'query': sql})}", timeout=30) as response:
            results = json.loads(response.read())

        assert results[0]["id"] == str(library / "camera" / "2023" / "rocket.jpg") and results[0]["distance"] <= results[1]["distance"]

        # The package's application indexes posted paths into the same index, saved on disk
        added = tmp_path / "clock.jpg"
        photos["clock"].save(added)
        request = urllib.request.Request(
            f"{url}/workflow", json.dumps({"name": "index", "elements": [str(added)]}).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            assert json.loads(response.read())[0]["path"] == str(added)

    finally:
        process.terminate()
        process.wait(timeout=30)

    # The saved index still loads with its SQL functions, and holds the new image
    after = rows(index)
    assert len(after) == 9 and after[str(added)]["text"] == ImageHash()(str(added))


def test_demo(tmp_path):
    """
    demo builds its collection, finds the planted groups and writes a report that a real browser renders.
    """

    result = run("demo", "--output", tmp_path / "demo", "--quiet")
    assert result.returncode == 0, result.stderr

    report = tmp_path / "demo" / "report.html"
    assert f"Report: {report}" in result.stdout
    assert "truncated.jpg" in result.stderr

    groups = json.loads((tmp_path / "demo" / "duplicates.json").read_text())
    assert len(groups) == 7 and sum(len(group["images"]) - 1 for group in groups) == 9
    assert all(os.sep + "photos" + os.sep in group["images"][0]["path"] for group in groups)

    if CHROMIUM:
        page = check(report)
        assert page["groups"] == 7 and page["loaded"] == page["images"] == 16

    # Run again: the previous demo is replaced; a folder that is not a demo is never touched
    assert main(["demo", "--output", str(tmp_path / "demo"), "--quiet"]) == 0
    assert len(json.loads((tmp_path / "demo" / "duplicates.json").read_text())) == 7

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "photo.jpg").write_bytes(b"mine")
    assert main(["demo", "--output", str(tmp_path / "mine")]) == 2
    assert os.listdir(tmp_path / "mine") == ["photo.jpg"]


def test_move_undo_never_overwrite(tmp_path, photos):
    """
    Moving never overwrites a file already in the target, and undo never overwrites a file that took a moved file's
    place: it reports it and exits with code 3.
    """

    from txtai_imagehash.cli.moves import move

    root, aside = tmp_path / "photos", tmp_path / "aside"
    (root / "a").mkdir(parents=True)
    (aside / "a").mkdir(parents=True)
    for name in ["keep.jpg", "copy.jpg", "other.jpg"]:
        photos["coffee"].save(root / "a" / name)
    (aside / "a" / "copy.jpg").write_bytes(b"already here")

    images = [{"id": str(root / "a" / name), "path": str(root / "a" / name)} for name in ["keep.jpg", "copy.jpg", "other.jpg"]]
    manifest, done, failed, kept = move([{"keeper": images[0]["id"], "images": images}], aside, root=str(root))

    assert not failed and not kept and [os.path.basename(entry["to"]) for entry in done] == ["copy (1).jpg", "other.jpg"]
    assert (aside / "a" / "copy.jpg").read_bytes() == b"already here" and os.listdir(root / "a") == ["keep.jpg"]

    # Something new now lives where other.jpg was
    (root / "a" / "other.jpg").write_bytes(b"new file")
    assert code(["undo", manifest]) == 3
    assert (root / "a" / "other.jpg").read_bytes() == b"new file" and (aside / "a" / "other.jpg").exists()
    assert (root / "a" / "copy.jpg").exists() and not (aside / "a" / "copy (1).jpg").exists()


def test_progress_bar_on_terminal(tmp_path, photos, monkeypatch):
    """
    index shows a progress bar when standard error is a terminal, and none with --quiet.
    """

    import fcntl
    import pty
    import struct
    import termios

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ["coffee", "rocket", "coins"]:
        photos[name].save(folder / f"{name}.jpg")

    def terminal(argv):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        with os.fdopen(slave, "w") as stream:
            monkeypatch.setattr(sys, "stderr", stream)
            assert main(argv) == 0
            stream.flush()
            monkeypatch.undo()

        output = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        os.close(master)
        return output.decode(errors="replace")

    shown = terminal(["index", str(folder), "--index", str(tmp_path / "a")])
    assert "Hashing: 100%" in shown and "3/3" in shown

    quiet = terminal(["index", str(folder), "--index", str(tmp_path / "b"), "--quiet"])
    assert "Hashing" not in quiet and "added" not in quiet


def test_quiet_names_each_broken_file_once(tmp_path, photos):
    """
    Under --quiet (and without it) each file that cannot be read is named exactly once, in the final list: no log
    line per file, no Pillow warning for an image over its pixel limit, in this process or in hashing workers.
    """

    folder = tmp_path / "images"
    folder.mkdir()
    photos["coffee"].save(folder / "coffee.jpg")
    data = (folder / "coffee.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 2])

    # 100 megapixels: Pillow warns (DecompressionBombWarning), the package refuses it
    png(folder / "huge.png", 10000, 10000)

    # Hashed in this process with --quiet, in two worker processes without
    for workers, quiet in [(1, ["--quiet"]), (2, [])]:
        result = run("index", folder, "--index", tmp_path / f"index-{workers}", "--workers", workers, *quiet)
        assert result.returncode == 0, result.stderr
        for name in ["broken.jpg", "huge.png"]:
            assert result.stderr.count(name) == 1, result.stderr
        assert "Warning" not in result.stderr and "Skipped" not in result.stderr, result.stderr
        assert result.stderr.startswith("Could not read 2 files:") if quiet else "1 added" in result.stderr


def test_unreadable_subfolder_keeps_rows(tmp_path, library):
    """
    A subfolder that cannot be read on a rerun is reported, and its rows are kept (not removed as if its files were
    deleted). Root reads every folder, so the rerun runs without the capabilities that let it (setpriv).
    """

    index = tmp_path / "index"
    assert main(["index", str(library), "--index", str(index), "--quiet"]) == 0
    before = rows(index)
    phone = library / "phone"

    prefix = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root reads every folder, and setpriv (util-linux) is not there to drop that")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]

    os.chmod(phone, 0)
    try:
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        command = [*prefix, sys.executable, "-m", "txtai_imagehash", "index", str(library), "--index", str(index)]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    finally:
        os.chmod(phone, 0o755)

    assert result.returncode == 0, result.stderr
    assert f"{phone}: permission denied" in result.stderr and "0 removed" in result.stderr
    assert "(2 kept below folders that could not be read)" in result.stderr, result.stderr
    assert rows(index) == before
