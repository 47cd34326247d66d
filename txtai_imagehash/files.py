"""
Files module: the image files of a folder. Walks folders recursively (symbolic links to folders followed, each
folder once), recognizes image files by extension or header, and tells whether a path is inside a folder.
"""

import os
import stat

from typing import NamedTuple

from . import formats
from .images import ImageError, failure, opened, recognize

# File extensions of image formats: those the installed openers read and those of the formats extra (reported with the
# extra's name when it is missing). Files with these names that fail to load are reported, other files are tried
# quietly and skipped when no opener recognizes their header
EXTENSIONS = formats.extensions()


class File(NamedTuple):
    """
    One file of a folder, whatever its names: symbolic links and hard links are other names of the same file (same
    device and inode).

    Fields:
        path: the file's own name: its real path (no symbolic link in it), the smallest one among hard links
              inside the folder
        info: os.stat_result of the file
        aliases: the file's other names below the folder (symbolic links to it, hard links), sorted
        inside: True when the real file is below the folder (a file reached only through a link that leads out of
                the folder is listed, but is not the folder's to move)
    """

    path: str
    info: os.stat_result
    aliases: tuple
    inside: bool


def walk(folder, errors=None, exclude=()):
    """
    Walks a folder recursively and lists its files, each once whatever its names. Symbolic links to folders are
    followed, but never the same folder twice, so symlink loops end. The result does not depend on the order the
    file system lists entries in.

    Args:
        folder: folder path
        errors: optional list that collects an ImageError for every folder or file that cannot be read
        exclude: folders not to walk into (e.g. the index itself when it lives inside folder)

    Returns:
        list of File for regular files, sorted by path
    """

    root = os.path.abspath(folder)
    real = os.path.realpath(root)
    visited = set()
    excluded = {os.path.realpath(path) for path in exclude}

    def onerror(error):
        if errors is not None:
            errors.append(ImageError(error.filename or root, failure(error)))

    # Every name of every regular file, by file identity
    names = {}
    for directory, subdirs, files in os.walk(root, onerror=onerror, followlinks=True):
        try:
            info = os.stat(directory)
        except OSError as error:
            onerror(error)
            subdirs[:] = []
            continue

        # Symlink loop, second link to a folder already walked, or an excluded folder: prune
        key = (info.st_dev, info.st_ino)
        if key in visited or os.path.realpath(directory) in excluded:
            subdirs[:] = []
            continue
        visited.add(key)

        subdirs.sort()
        for name in files:
            path = os.path.join(directory, name)
            try:
                info = os.stat(path)
            except OSError as error:
                # Broken symlink or unreadable entry
                onerror(error)
                continue

            if stat.S_ISREG(info.st_mode):
                names.setdefault((info.st_dev, info.st_ino), (info, set()))[1].add(path)

    return sorted((identify(info, paths, real) for info, paths in names.values()), key=lambda file: file.path)


def identify(info, paths, root):
    """
    Names one file from all the paths that reach it.

    Args:
        info: os.stat_result of the file
        paths: every path below the folder that reaches the file
        root: real path of the folder

    Returns:
        File
    """

    # Real names: the path itself has no symbolic link in it. Inside: the real file is below the folder.
    resolved = {os.path.realpath(path) for path in paths}
    own = sorted(path for path in resolved if within(path, root))
    path = own[0] if own else min(resolved)

    # Every other name that reaches the file, as walked (links) or as real names (hard links)
    aliases = tuple(sorted((set(paths) | set(own)) - {path}))
    return File(path, info, aliases, bool(own))


def isimage(path):
    """
    Checks if a file is worth hashing: its extension is an image extension (see EXTENSIONS), or its header is one
    that an installed opener recognizes, or one of the formats extra's. Only the header is read, and only of a
    regular file within the size limit (see txtai_imagehash.images.opened).

    Args:
        path: file path

    Returns:
        "extension" if the extension is an image extension, "header" if the header is an image's, None otherwise
    """

    if os.path.splitext(path)[1].lower() in EXTENSIONS:
        return "extension"

    try:
        with opened(path) as f:
            if formats.missing(f, path):
                return "header"
            recognize(f, path)
            return "header"
    except ImageError:
        return None


def within(path, root):
    """
    Checks if a path is inside a folder.

    Args:
        path: path
        root: absolute folder path

    Returns:
        True if path is root or below it
    """

    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
