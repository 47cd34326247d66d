"""
Files module: the image files of a folder. Walks folders recursively (symbolic links to folders followed, each
folder once), recognizes image files by extension or header, and tells whether a path is inside a folder.
"""

import os
import stat

from PIL import Image

from .images import ImageError, failure

# File extensions Pillow can open: files with these names that fail to load are reported, other files are
# tried quietly and skipped when Pillow does not recognize them
Image.init()
EXTENSIONS = frozenset(extension.lower() for extension in Image.registered_extensions())


def walk(folder, errors=None, exclude=()):
    """
    Walks a folder recursively, following symbolic links to folders but never the same folder twice, so
    symlink loops end. A file reached twice (through a symlink) is listed once.

    Args:
        folder: folder path
        errors: optional list that collects an ImageError for every folder or file that cannot be read
        exclude: folders not to walk into (e.g. the index itself when it lives inside folder)

    Returns:
        generator of (absolute path, os.stat_result) for regular files, in sorted order per folder
    """

    root = os.path.abspath(folder)
    seen, visited = set(), set()
    excluded = {os.path.realpath(path) for path in exclude}

    def onerror(error):
        if errors is not None:
            errors.append(ImageError(error.filename or root, failure(error)))

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
        for name in sorted(files):
            path = os.path.join(directory, name)
            try:
                info = os.stat(path)
            except OSError as error:
                # Broken symlink or unreadable entry
                onerror(error)
                continue

            key = (info.st_dev, info.st_ino)
            if stat.S_ISREG(info.st_mode) and not (os.path.islink(path) and key in seen):
                seen.add(key)
                yield path, info


def isimage(path):
    """
    Checks if a file is worth hashing: its extension is one Pillow opens, or Pillow recognizes its header.

    Args:
        path: file path

    Returns:
        "extension" if the extension is an image extension, "header" if Pillow recognizes the content,
        None otherwise
    """

    if os.path.splitext(path)[1].lower() in EXTENSIONS:
        return "extension"

    try:
        with Image.open(path):
            return "header"
    except Exception:  # pylint: disable=W0703
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
