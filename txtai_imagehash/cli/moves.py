"""
Moves module: moves duplicates out of the way, keeping their relative paths, and puts them back from a
manifest. Nothing is ever deleted.
"""

import os
import shutil
import time

from ..files import walk, within
from .manifest import VERSION, read, write


def plan(groups, target, root=None, names=None):
    """
    Plans the moves of every non-keeper of every group into a target folder, keeping paths relative to root. A file
    moves with every name it has below root: its hard links, and its symbolic links, which are moved and pointed at
    the file's new place, so that no link is left dangling. Files below a reference folder stay, and so do files
    whose real path is outside root (reached through a link out of it): the folder's links to them are not theirs.

    Args:
        groups: duplicate groups, see txtai_imagehash.dedup
        target: folder that receives the duplicates
        root: folder the relative paths start from; defaults to the common folder of all images in groups
        names: {real path: other names below root} from a fresh walk of root (txtai_imagehash.files.walk), defaults
               to the aliases the groups list

    Returns:
        (list of {"id", "from", "to", "bytes", "keeper", "group"} with, for symbolic links, "link": the link's text
        and "file": where its file moves, list of (image, reason) left in place)
    """

    target = os.path.abspath(target)
    root = root if root is not None else common(groups)

    real = os.path.realpath(root) if root else None
    moves, kept, taken = [], [], set()
    for number, group in enumerate(groups, start=1):
        keeper = next((image for image in group["images"] if image["id"] == group["keeper"]), group["images"][0])
        for image in group["images"]:
            if image is keeper or not image.get("path"):
                continue

            if image.get("reference"):
                kept.append((image, "below a reference folder: kept"))
                continue

            source = os.path.abspath(image["path"])
            if real and not within(os.path.realpath(source), real):
                kept.append((image, f"its file is outside {root}: only reached through a link, not moved"))
                continue

            # The file first, then its hard links, then its symbolic links, which point at the file's new place
            aliases = names.get(os.path.realpath(source), ()) if names is not None else image.get("aliases", ())
            place = None
            for path in [source] + sorted(aliases, key=os.path.islink):
                destination = free(os.path.join(target, relative(path, root)), taken)
                taken.add(destination)

                entry = {"id": image["id"], "from": path, "to": destination, "bytes": image.get("bytes"), "keeper": keeper.get("path"), "group": number}
                if os.path.islink(path):
                    entry["link"], entry["file"] = os.readlink(path), place
                place = place or destination
                moves.append(entry)

    return moves, kept


def common(groups):
    """
    Common folder of all images in groups: the root that plan() keeps paths relative to by default.

    Args:
        groups: duplicate groups

    Returns:
        absolute folder path, or None when no image has a path
    """

    paths = [image["path"] for group in groups for image in group["images"] if image.get("path")]
    return os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in paths]) if paths else None


def relative(path, root):
    """
    Path of a file relative to root, or its whole path when it is outside root.

    Args:
        path: absolute path
        root: folder, or None

    Returns:
        relative path
    """

    value = os.path.relpath(path, root) if root else path.lstrip(os.sep)
    return os.path.splitdrive(path)[1].lstrip(os.sep) if value.startswith(os.pardir + os.sep) else value


def free(path, taken=()):
    """
    Finds a path that does not exist yet: path itself, else "name (1).ext", "name (2).ext", ...

    Args:
        path: wanted path
        taken: paths already planned

    Returns:
        path
    """

    base, extension = os.path.splitext(path)
    candidate, count = path, 0
    while os.path.lexists(candidate) or candidate in taken:
        count += 1
        candidate = f"{base} ({count}){extension}"

    return candidate


def move(groups, target, root=None, index=None):
    """
    Moves every non-keeper into target, keeping relative paths, with all its names (see plan()), and writes a
    manifest first, so an interrupted run can still be undone.

    Args:
        groups: duplicate groups, see txtai_imagehash.dedup
        target: folder that receives the duplicates
        root: folder the relative paths start from, see plan()
        index: index path to record in the manifest

    Returns:
        (manifest path, list of moves done, list of (move, reason) that failed, list of (image, reason) left in
        place)
    """

    # The names of every file as the folder has them now, not as the index last saw them
    names = {file.path: file.aliases for file in walk(root)} if root else None

    # The manifest records the root the paths are relative to: undo only puts files back below it
    root = os.path.abspath(root) if root is not None else common(groups)
    moves, kept = plan(groups, target, root, names)
    os.makedirs(target, exist_ok=True)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    manifest = free(os.path.join(os.path.abspath(target), f"txtai-imagehash-manifest-{stamp}.json"))
    content = {
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": os.path.abspath(target),
        "root": root,
        "index": index,
        "moves": moves,
    }
    write(manifest, content)

    done, failed = [], []
    for entry in moves:
        try:
            os.makedirs(os.path.dirname(entry["to"]), exist_ok=True)
            if "link" in entry:
                # The link moves too, and names its file's new place (relative, as links in a folder tree usually are)
                os.symlink(os.path.relpath(entry["file"], os.path.dirname(entry["to"])), entry["to"])
                os.unlink(entry["from"])
            else:
                shutil.move(entry["from"], entry["to"])
            done.append(entry)
        except OSError as error:
            failed.append((entry, error.strerror or str(error)))

    return manifest, done, failed, kept


def undo(manifest):
    """
    Puts every file listed in a manifest back where it was. Files are never overwritten: a move whose original
    path is taken again is reported and left alone.

    Args:
        manifest: manifest path written by move()

    Returns:
        (list of moves restored, list of (move, reason) not restored)
    """

    content = read(manifest)

    restored, problems = [], []
    for entry in content["moves"]:
        source, destination = entry["to"], entry["from"]
        if os.path.lexists(destination):
            reason = "already in place" if not os.path.lexists(source) else f"{destination} exists, not overwritten"
            problems.append((entry, reason))
            continue
        if not os.path.lexists(source):
            problems.append((entry, f"{source} is missing"))
            continue

        try:
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            if "link" in entry:
                # A moved link: the original link back, with its own text
                os.symlink(entry["link"], destination)
                os.unlink(source)
            else:
                shutil.move(source, destination)
            restored.append(entry)
            removeempty(os.path.dirname(source), content["target"])
        except OSError as error:
            problems.append((entry, error.strerror or str(error)))

    return restored, problems


def removeempty(folder, top):
    """
    Removes empty folders from folder up to, but not including, top.

    Args:
        folder: deepest folder
        top: folder to stop at
    """

    folder, top = os.path.abspath(folder), os.path.abspath(top)
    while folder != top and folder.startswith(top + os.sep):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)
