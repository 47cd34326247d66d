"""
Moves module: moves duplicates out of the way, keeping their relative paths, and puts them back from a
manifest. Nothing is ever deleted. Before anything moves, the destination is checked (a folder, writable, outside
the collection) and the manifest is written; right before each move the file is checked again (unchanged since it
was hashed). Each file moves with txtai_imagehash.cli.transfer (never overwriting, no stray copies).
"""

import os
import time

from ..files import walk, within
from .destination import DestinationError, check
from .manifest import VERSION, read, write
from .transfer import link, partial, same, transfer


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
                how = "only reached through a link, not moved" if within(source, root) else "not moved (dedup --index without FOLDER moves it)"
                kept.append((image, f"its file is outside {root}: {how}"))
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


def move(groups, target, root=None, index=None, collection=None):
    """
    Moves every non-keeper into target, keeping relative paths, with all its names (see plan()), and writes a
    manifest first, so an interrupted run can still be undone.

    Args:
        groups: duplicate groups, see txtai_imagehash.dedup
        target: folder that receives the duplicates
        root: folder the relative paths start from, see plan()
        index: index path to record in the manifest
        collection: optional {path: (size, mtime_ns)} of every file of the collection by each of its names (the
                    index's rows): the target must hold none of them nor be in one of their folders, and a file
                    moves only if it has the size and mtime recorded here (else only its size at grouping time is
                    checked)

    Returns:
        (manifest path, list of moves done, list of (move, reason) that failed, list of (image, reason) left in
        place)

    Raises:
        DestinationError: target cannot take the moves; nothing was moved
    """

    # The names of every file as the folder has them now, not as the index last saw them
    names = {file.path: file.aliases for file in walk(root)} if root else None

    # The manifest records the root the paths are relative to: undo only puts files back below it
    folder = os.path.abspath(root) if root is not None else None
    root = folder or common(groups)
    collection = collection or {}
    check(target, folder, root, list(collection) + [image.get("path") for group in groups for image in group["images"]])

    moves, kept = plan(groups, target, root, names)
    for entry in moves:
        # What the file was when it was hashed
        if "link" not in entry and collection.get(entry["from"], (None, None))[1] is not None:
            entry["size"], entry["mtime"] = collection[entry["from"]]

    manifest = prepare(target, {"root": root, "index": index, "moves": moves})

    done, failed, placed = [], [], {}
    for entry in moves:
        reason = changed(entry)
        if reason:
            failed.append((entry, reason))
            continue

        try:
            if "link" in entry:
                # The link moves too, and names its file's new place (relative, as links in a folder tree usually are)
                link(os.path.relpath(entry["file"], os.path.dirname(entry["to"])), entry["from"], entry["to"])
            else:
                # A hard link of a file moved already is linked to its new place, also across file systems
                transfer(entry["from"], entry["to"], placed.get(entry["id"]))
                placed.setdefault(entry["id"], entry["to"])
            done.append(entry)
        except OSError as error:
            failed.append((entry, error.strerror or str(error)))

    return manifest, done, failed, kept


def prepare(target, content):
    """
    Creates the destination folder and writes the manifest into it, before anything moves: a folder that cannot be
    created or written to (read-only, immutable, no space) fails here.

    Args:
        target: destination folder
        content: manifest content: root, index and moves

    Returns:
        manifest path

    Raises:
        DestinationError: nothing was moved
    """

    target = os.path.abspath(target)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        os.makedirs(target, exist_ok=True)
        manifest = free(os.path.join(target, f"txtai-imagehash-manifest-{stamp}.json"))
        write(manifest, {"version": VERSION, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "target": target, **content})
    except OSError as error:
        raise DestinationError(f"cannot write into --move-to {target}: {error.strerror or error}; nothing was moved") from None

    return manifest


def changed(entry):
    """
    Checks a file right before it moves: still there, with the size and mtime it had when hashed (or, without
    those, the size it had when grouped). A symbolic link only needs to be there: it moves after its file.

    Args:
        entry: planned move

    Returns:
        reason not to move it, or None
    """

    if "link" in entry:
        return None if os.path.islink(entry["from"]) else "the link is gone"

    try:
        info = os.stat(entry["from"])
    except OSError as error:
        return error.strerror or str(error)

    if "mtime" in entry and (info.st_size, info.st_mtime_ns) != (entry["size"], entry["mtime"]):
        return "changed since it was indexed (size or modification time differs): index it again, then dedup"
    if "mtime" not in entry and entry.get("bytes") is not None and info.st_size != entry["bytes"]:
        return "changed since the duplicates were found (size differs): run dedup again"

    return None


def undo(manifest):
    """
    Puts every file listed in a manifest back where it was. Files are never overwritten: a move whose original
    path is taken again is reported and left alone. Leftovers of an interrupted move across file systems are
    removed: a partial copy, and a complete copy whose original is still in place (same bytes, or for a link the
    same text).

    Args:
        manifest: manifest path written by move()

    Returns:
        (list of moves restored, list of (move, reason) not restored, list of notes); reasons of moves that need
        nothing start with "already in place"
    """

    content = read(manifest)

    restored, problems, notes, placed = [], [], [], {}
    for entry in content["moves"]:
        source, destination = entry["to"], entry["from"]

        stale = partial(source)
        if os.path.lexists(stale):
            os.unlink(stale)
            notes.append(f"removed {stale}, a partial copy left by an interrupted move")

        if os.path.lexists(destination):
            if not os.path.lexists(source):
                problems.append((entry, "already in place"))
            elif leftover(entry):
                os.unlink(source)
                removeempty(os.path.dirname(source), content["target"])
                problems.append((entry, f"already in place: removed {source}, a leftover copy with the same bytes"))
            else:
                problems.append((entry, f"{destination} exists, not overwritten"))
            continue

        if not os.path.lexists(source):
            problems.append((entry, f"{source} is missing"))
            continue

        try:
            if "link" in entry:
                # A moved link: the original link back, with its own text
                link(entry["link"], source, destination)
            else:
                transfer(source, destination, placed.get(entry.get("id")))
                placed.setdefault(entry.get("id"), destination)
            restored.append(entry)
            removeempty(os.path.dirname(source), content["target"])
        except OSError as error:
            problems.append((entry, error.strerror or str(error)))

    return restored, problems, notes


def leftover(entry):
    """
    Checks if the moved copy of an entry is a leftover: its original is back (or still) in place with the same
    content, as a move killed between copying and removing the original leaves it.

    Args:
        entry: manifest move

    Returns:
        True if entry["to"] can go
    """

    if "link" in entry:
        return os.path.islink(entry["from"]) and os.readlink(entry["from"]) == entry["link"] and os.path.islink(entry["to"])

    return same(entry["from"], entry["to"])


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
