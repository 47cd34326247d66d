"""
dedup --move-to against careless and unusual destinations and files: a destination in or over the collection (also
through a symbolic link, also for --index runs), one that is a file or cannot be written, moves across file systems
(copy, flush, rename, unlink; no stray copies, leftovers undone), files changed since they were hashed, and files of
the index outside FOLDER.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from txtai_imagehash.cli import main

from helpers import rows, run, snapshot

# Moves by the command line, in this process and in subprocesses
pytestmark = pytest.mark.slow


@pytest.fixture
def library(tmp_path, photos):
    """
    Two photos and a near-duplicate of each, indexed.

    Returns:
        (library folder, index path)
    """

    root = tmp_path / "library"
    (root / "camera").mkdir(parents=True)
    (root / "phone").mkdir()
    photos["astronaut"].save(root / "camera" / "astronaut.jpg", quality=90)
    photos["chelsea"].save(root / "camera" / "chelsea.jpg", quality=90)
    astronaut = photos["astronaut"]
    astronaut.resize((astronaut.width // 2, astronaut.height // 2)).save(root / "phone" / "IMG_0001.jpg", quality=75)
    photos["chelsea"].save(root / "phone" / "IMG_0002.jpg", quality=35)

    index = tmp_path / "index"
    assert main(["index", str(root), "--index", str(index), "--quiet"]) == 0
    return root, index


def code(argv):
    """
    Runs the command line in this process and returns its exit code.
    """

    try:
        return main([str(x) for x in argv])
    except SystemExit as error:
        return error.code


DUPLICATES = {os.path.join("phone", "IMG_0001.jpg"), os.path.join("phone", "IMG_0002.jpg")}


def moved(target):
    """
    Files below target, manifests left out.
    """

    return {path for path in snapshot(target) if not path.endswith(".json")} if os.path.isdir(target) else set()


def test_destination_in_collection(tmp_path, library, capsys):
    """
    --move-to the folder, a symbolic link into it, the root of an --index run, a folder that holds the collection or
    one inside a folder of it: a usage error, nothing moved, the index unchanged.
    """

    root, index = library
    os.symlink(root / "phone", tmp_path / "alias")
    before, files = rows(index), snapshot(root)

    for argv, message in [
        (["dedup", root, "--index", index, "--move-to", root], "is inside"),
        (["dedup", root, "--index", index, "--move-to", tmp_path / "alias"], "is inside"),
        (["dedup", root, "--index", index, "--move-to", tmp_path / "alias" / "dups"], "is inside"),
        (["dedup", "--index", index, "--move-to", root], "the folder the moved files keep their paths relative to"),
        (["dedup", "--index", index, "--move-to", tmp_path], "holds files of the collection"),
        (["dedup", "--index", index, "--move-to", root / "phone" / "dups"], "a folder of the collection"),
        (["dedup", "--index", index, "--move-to", tmp_path / "alias"], "a folder of the collection"),
    ]:
        assert code(argv) == 2, argv
        error = capsys.readouterr().err
        assert message in error, (argv, error)
        assert snapshot(root) == files and rows(index) == before, argv


def test_destination_is_a_file(tmp_path, library):
    """
    --move-to naming a file: exit 2 before anything moves (exit 1 means duplicates found).
    """

    root, index = library
    (tmp_path / "notes.txt").write_text("mine")
    result = run("dedup", "--index", index, "--move-to", tmp_path / "notes.txt")
    assert result.returncode == 2 and "is not a folder" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert moved(root / "phone") == {"IMG_0001.jpg", "IMG_0002.jpg"} and (tmp_path / "notes.txt").read_text() == "mine"


def unwritable(folder):
    """
    Makes a folder that this process cannot write into: immutable for root (chattr +i), read-only otherwise.

    Returns:
        function that undoes it
    """

    if os.geteuid():
        os.chmod(folder, 0o555)
        return lambda: os.chmod(folder, 0o755)

    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", folder], capture_output=True, check=False).returncode:
        pytest.skip("cannot make a folder unwritable for root here (chattr +i)")
    return lambda: subprocess.run(["chattr", "-i", folder], check=True)


def test_destination_not_writable(tmp_path, library):
    """
    An immutable (or read-only) DIR: a clear error and exit 2, nothing moved, the index unchanged.
    """

    root, index = library
    target = tmp_path / "aside"
    target.mkdir()
    restore = unwritable(target)
    try:
        before = rows(index)
        result = run("dedup", "--index", index, "--move-to", target)
        assert result.returncode == 2, result.stderr
        assert f"cannot write into --move-to {target}" in result.stderr and "nothing was moved" in result.stderr and "Traceback" not in result.stderr
        assert rows(index) == before and moved(root / "phone") == {"IMG_0001.jpg", "IMG_0002.jpg"}
    finally:
        restore()


def otherdevice(path):
    """
    A new folder on another file system than path (/dev/shm is a tmpfs on Linux), or skips.
    """

    base = "/dev/shm"
    if not os.path.isdir(base) or os.stat(base).st_dev == os.stat(path).st_dev:
        pytest.skip("no second file system (/dev/shm) to move across")

    return tempfile.mkdtemp(prefix="txtai-imagehash-test-", dir=base)


def test_across_file_systems(tmp_path, library):
    """
    Moves to another file system keep every byte and mtime and leave no temporary copies; undo brings them back.
    """

    root, index = library
    target = otherdevice(tmp_path)
    try:
        files = snapshot(root)
        mtimes = {path: os.stat(root / path).st_mtime_ns for path in DUPLICATES}

        result = run("dedup", "--index", index, "--move-to", target)
        assert result.returncode == 0, result.stderr
        assert set(snapshot(target)) - {name for name in snapshot(target) if name.endswith(".json")} == DUPLICATES
        for path in DUPLICATES:
            assert snapshot(target)[path] == files[path] and os.stat(os.path.join(target, path)).st_mtime_ns == mtimes[path]
            assert not (root / path).exists()

        manifest = re.search(r"undo (\S+\.json)", result.stdout).group(1)
        result = run("undo", manifest)
        assert result.returncode == 0 and "Put back 2 files" in result.stdout, result.stdout + result.stderr
        assert snapshot(root) == files and moved(target) == set()
    finally:
        shutil.rmtree(target)


def test_original_not_removable(tmp_path, library):
    """
    Across file systems, an original that cannot be removed (its folder mounted read-only) is not moved, and its
    copy is removed again: no stray copy in DIR, the index keeps the row.
    """

    root, index = library
    target = otherdevice(tmp_path)
    phone = str(root / "phone")
    try:
        for command in (["mount", "--bind", phone, phone], ["mount", "-o", "remount,bind,ro", phone]):
            if subprocess.run(command, capture_output=True, check=False).returncode:
                pytest.skip("cannot mount a read-only folder here")

        result = run("dedup", "--index", index, "--move-to", target)
        assert result.returncode == 3, result.stderr
        assert "moved, but the original could not be removed" in result.stderr and "the new name was removed again" in result.stderr
        assert moved(target) == set() and not [name for name in os.listdir(os.path.join(target, "phone")) if name]
        assert set(rows(index)) >= {str(root / path) for path in DUPLICATES}
    finally:
        subprocess.run(["umount", phone], capture_output=True, check=False)
        shutil.rmtree(target)


def test_undo_leftovers(tmp_path, library):
    """
    What a move across file systems killed at the wrong moment leaves: a complete copy whose original is still in
    place (killed before the unlink), a partial copy under its temporary name (killed mid-copy). undo removes both
    and says so.
    """

    root, index = library
    target = otherdevice(tmp_path)
    try:
        files = snapshot(root)
        result = run("dedup", "--index", index, "--move-to", target)
        assert result.returncode == 0, result.stderr
        manifest = re.search(r"undo (\S+\.json)", result.stdout).group(1)

        # Killed before the unlink: the original is still there
        first, second = sorted(DUPLICATES)
        shutil.copy2(os.path.join(target, first), root / first)

        # Killed mid-copy: half a file under the temporary name (txtai_imagehash.cli.transfer.partial)
        folder, name = os.path.split(os.path.join(target, second))
        stale = os.path.join(folder, f".{name}.txtai-imagehash-partial")
        with open(stale, "wb") as f:
            f.write(files[second][: len(files[second]) // 2])

        result = run("undo", manifest)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"removed {os.path.join(target, first)}, a leftover copy with the same bytes" in result.stdout
        assert f"removed {stale}, a partial copy" in result.stdout and "Put back 1 file" in result.stdout
        assert snapshot(root) == files and moved(target) == set() and not os.path.lexists(stale)
    finally:
        shutil.rmtree(target)


def test_changed_since_indexed(tmp_path, library):
    """
    A file changed after it was hashed (new bytes, or only a new mtime) is not moved: it is listed with the reason and
    the run exits with 3; the unchanged duplicate moves.
    """

    root, index = library
    changed = root / "phone" / "IMG_0002.jpg"
    with open(changed, "ab") as f:
        f.write(b"\0")

    target = tmp_path / "aside"
    result = run("dedup", "--index", index, "--move-to", target)
    assert result.returncode == 3, result.stderr
    assert f"not moved: {changed}: changed since it was indexed" in result.stderr
    assert moved(target) == {os.path.join("phone", "IMG_0001.jpg")} and changed.exists()

    # Same size, new mtime
    assert main(["index", str(root), "--index", str(index), "--quiet"]) == 0
    os.utime(changed, ns=(os.stat(changed).st_atime_ns, os.stat(changed).st_mtime_ns + 10**9))
    assert code(["dedup", "--index", index, "--move-to", tmp_path / "again"]) == 3
    assert changed.exists() and moved(tmp_path / "again") == set()


def test_moves_limited_to_folder(tmp_path, library, photos):
    """
    dedup FOLDER --index I moves only duplicates below FOLDER, and names the others of I it leaves.
    """

    root, index = library
    other = tmp_path / "other"
    other.mkdir()
    photos["coffee"].save(other / "coffee.jpg", quality=90)
    photos["coffee"].save(other / "coffee-copy.jpg", quality=50)
    assert main(["index", str(other), "--index", str(index), "--quiet"]) == 0

    target = tmp_path / "aside"
    result = run("dedup", root, "--index", index, "--move-to", target, "--quiet")
    assert result.returncode == 0, result.stderr
    assert moved(target) == DUPLICATES and (other / "coffee.jpg").exists() and (other / "coffee-copy.jpg").exists()
    assert re.search(r"left in place: \S+coffee\S*: its file is outside \S+: not moved \(dedup --index without FOLDER moves it\)", result.stdout), result.stdout


def test_hard_links_across_file_systems(tmp_path, library):
    """
    A duplicate with a second hard link moves to another file system as one file with two names, and comes back so.
    """

    root, index = library
    os.link(root / "phone" / "IMG_0001.jpg", root / "phone" / "IMG_0001-copy.jpg")
    assert main(["index", str(root), "--index", str(index), "--quiet"]) == 0

    target = otherdevice(tmp_path)
    try:
        result = run("dedup", root, "--index", index, "--move-to", target)
        assert result.returncode == 0, result.stderr
        first, second = (os.path.join(target, "phone", name) for name in ["IMG_0001.jpg", "IMG_0001-copy.jpg"])
        assert os.path.samefile(first, second) and os.stat(first).st_nlink == 2
        assert not (root / "phone" / "IMG_0001.jpg").exists() and not (root / "phone" / "IMG_0001-copy.jpg").exists()

        result = run("undo", re.search(r"undo (\S+\.json)", result.stdout).group(1))
        assert result.returncode == 0, result.stdout + result.stderr
        assert os.path.samefile(root / "phone" / "IMG_0001.jpg", root / "phone" / "IMG_0001-copy.jpg")
    finally:
        shutil.rmtree(target)
