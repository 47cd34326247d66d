"""
undo against hand-edited and hostile manifests: the whole manifest is checked before anything moves, files only
leave the manifest's target folder and only go back below its root (real paths: no `..`, no symlinks out).
"""

import json
import os

import pytest

from helpers import run, snapshot

# undo runs the command line in subprocesses
pytestmark = pytest.mark.slow


@pytest.fixture
def moved(tmp_path):
    """
    A folder with one file moved aside as dedup --move-to leaves it: the moved file in the target, a manifest for it.

    Returns:
        (root, target, manifest content)
    """

    root, target = tmp_path / "photos", tmp_path / "aside"
    (root / "a").mkdir(parents=True)
    (target / "a").mkdir(parents=True)
    (root / "a" / "keep.jpg").write_bytes(b"keeper")
    (target / "a" / "copy.jpg").write_bytes(b"duplicate")

    content = {
        "version": 1,
        "created": "2026-01-01T12:00:00+0000",
        "target": str(target),
        "root": str(root),
        "index": None,
        "moves": [{"id": str(root / "a" / "copy.jpg"), "from": str(root / "a" / "copy.jpg"), "to": str(target / "a" / "copy.jpg")}],
    }
    return root, target, content


def undo(tmp_path, content):
    """
    Writes a manifest into the target and runs undo on it.

    Returns:
        CompletedProcess
    """

    manifest = os.path.join(content["target"], "txtai-imagehash-manifest-edited.json")
    with open(manifest, "w", encoding="utf-8") as f:
        json.dump(content, f)

    return run("undo", manifest)


def test_valid(tmp_path, moved):
    """
    The manifest as written: the file goes back.
    """

    root, _, content = moved
    result = undo(tmp_path, content)
    assert result.returncode == 0, result.stderr
    assert (root / "a" / "copy.jpg").read_bytes() == b"duplicate"


def test_outside_target(tmp_path, moved):
    """
    A `to` that names a file outside the target (a system file, say) is never moved, nor is anything else.
    """

    root, target, content = moved
    system = tmp_path / "etc" / "passwd"
    system.parent.mkdir()
    system.write_bytes(b"root:x:0:0")
    content["moves"].insert(0, {"id": "x", "from": str(root / "a" / "passwd"), "to": str(system)})

    before = snapshot(tmp_path)
    result = undo(tmp_path, content)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{system} is not inside the target folder {target}" in result.stderr and "nothing was moved" in result.stderr
    assert "Traceback" not in result.stderr
    assert {path: data for path, data in snapshot(tmp_path).items() if not path.endswith(".json")} == before


def test_escape_root(tmp_path, moved):
    """
    A `from` with `..` that would put a file (or a whole folder) outside the root is refused.
    """

    root, target, content = moved
    (target / "b").mkdir()
    (target / "b" / "x.jpg").write_bytes(b"x")
    content["moves"].append({"id": "b", "from": str(root / ".." / ".." / "b" / "x.jpg"), "to": str(target / "b" / "x.jpg")})

    before = snapshot(tmp_path)
    result = undo(tmp_path, content)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "'..'" in result.stderr and "nothing was moved" in result.stderr
    assert {path: data for path, data in snapshot(tmp_path).items() if not path.endswith(".json")} == before


def test_symlinks(tmp_path, moved):
    """
    Symbolic links count: a target subfolder that links out of the target, and a root subfolder that links out of
    the root, are both outside.
    """

    root, target, content = moved
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "file.jpg").write_bytes(b"not in the target")
    os.symlink(outside, target / "linked")

    edited = {**content, "moves": content["moves"] + [{"id": "l", "from": str(root / "a" / "file.jpg"), "to": str(target / "linked" / "file.jpg")}]}
    result = undo(tmp_path, edited)
    assert result.returncode == 2 and "is not inside the target folder" in result.stderr, result.stderr
    assert (outside / "file.jpg").exists() and (target / "a" / "copy.jpg").exists()

    os.symlink(outside, root / "out")
    (target / "a" / "more.jpg").write_bytes(b"more")
    edited = {**content, "moves": content["moves"] + [{"id": "o", "from": str(root / "out" / "more.jpg"), "to": str(target / "a" / "more.jpg")}]}
    result = undo(tmp_path, edited)
    assert result.returncode == 2 and "is not below the root folder" in result.stderr, result.stderr
    assert not (outside / "more.jpg").exists() and (target / "a" / "copy.jpg").exists()


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda content: content["moves"].append({"id": "y", "from": "/tmp/y.jpg"}), "move 2 has no 'to' path"),
        (lambda content: content["moves"].append("not a move"), "move 2 is not an object"),
        (lambda content: content.pop("target"), "no 'target' folder"),
        (lambda content: content["moves"].append({"id": "r", "from": "relative.jpg", "to": "also.jpg"}), "not an absolute path"),
    ],
)
def test_missing_keys(tmp_path, moved, edit, message):
    """
    Missing or malformed keys: a clear message, exit 2, and the valid first move is not made either.
    """

    root, target, content = moved
    edit(content)

    manifest = target / "edited.json"
    manifest.write_text(json.dumps(content), encoding="utf-8")
    result = run("undo", manifest)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (root / "a" / "copy.jpg").exists() and (target / "a" / "copy.jpg").exists()
