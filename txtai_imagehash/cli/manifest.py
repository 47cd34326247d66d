"""
Manifest module: the undo manifest that dedup --move-to writes before moving anything, read back and checked as a
whole before undo moves anything. A manifest is a hand-editable JSON file, so undo trusts none of it: files only
leave its `target` folder and only go back below its `root` folder, by real paths (no `..`, symbolic links
resolved).
"""

import json
import os

from ..files import within

# Manifest format version
VERSION = 1


def read(manifest):
    """
    Reads and validates a manifest.

    Args:
        manifest: manifest path

    Returns:
        manifest content
    """

    try:
        with open(manifest, encoding="utf-8") as f:
            content = json.load(f)
    except OSError as error:
        raise ValueError(f"{manifest}: cannot read manifest: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{manifest}: not a txtai-imagehash manifest (not JSON: {error})") from error

    if not isinstance(content, dict) or content.get("version") != VERSION or not isinstance(content.get("moves"), list):
        raise ValueError(f"{manifest}: not a txtai-imagehash manifest (expected version {VERSION} with a list of moves)")

    validate(content, manifest)
    return content


def validate(content, manifest):
    """
    Checks every move of a manifest before any is undone: each has absolute `from` and `to` paths without `..`,
    each `to` is inside the target folder and each `from` below the root folder, by real paths. Manifests written
    before the root was always recorded (root null) only get the `..` check on `from`.

    Args:
        content: manifest content
        manifest: manifest path, for messages

    Raises:
        ValueError naming the first problem; nothing is moved then
    """

    def refuse(message):
        raise ValueError(f"{manifest}: {message}; nothing was moved")

    target, root = content.get("target"), content.get("root")
    if not isinstance(target, str) or not os.path.isabs(target):
        refuse("no 'target' folder (an absolute path): not a manifest written by 'dedup --move-to'")
    if root is not None and (not isinstance(root, str) or not os.path.isabs(root)):
        refuse(f"'root' {root!r} is not an absolute path")

    for number, entry in enumerate(content["moves"], start=1):
        if not isinstance(entry, dict):
            refuse(f"move {number} is not an object with 'from' and 'to' paths")

        for key in ("from", "to"):
            value = entry.get(key)
            if not isinstance(value, str) or not value:
                refuse(f"move {number} has no '{key}' path")
            if not os.path.isabs(value):
                refuse(f"move {number}: '{key}' {value!r} is not an absolute path")
            if os.pardir in value.split(os.sep):
                refuse(f"move {number}: '{key}' {value!r} contains '..'")

        if "link" in entry and not isinstance(entry["link"], str):
            refuse(f"move {number}: 'link' {entry['link']!r} is not the text of a symbolic link")

        if not inside(entry["to"], target):
            refuse(f"move {number}: {entry['to']} is not inside the target folder {target}")
        if root is not None and not inside(entry["from"], root):
            refuse(f"move {number}: {entry['from']} is not below the root folder {root}")


def inside(path, folder):
    """
    Checks if a path is below a folder by real paths: its parent folder resolved (symbolic links followed), the
    name itself not (a moved symbolic link is moved as a link).

    Args:
        path: absolute path
        folder: absolute folder path

    Returns:
        True if path is below folder
    """

    parent, name = os.path.split(path)
    return bool(name) and within(os.path.realpath(parent), os.path.realpath(folder))


def write(path, content):
    """
    Writes a manifest atomically: a complete file or none.

    Args:
        path: manifest path
        content: manifest content
    """

    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
