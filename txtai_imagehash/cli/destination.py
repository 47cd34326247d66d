"""
Destination module: the folder that receives the duplicates of dedup --move-to, checked before anything moves.
"""

import os

from ..files import within


class DestinationError(Exception):
    """
    The destination folder cannot take the moves. Raised before anything moves; the message says why.
    """


def check(target, folder=None, root=None, paths=()):
    """
    Checks a destination folder before anything moves: a folder (or a path for one), not inside the folder being
    de-duplicated, not the root the paths are kept relative to (files would be renamed in place), not inside a
    folder of the collection's files (moved files would be found again) and holding none of them. Paths are compared
    as real paths (symbolic links resolved, equality included).

    Args:
        target: destination folder
        folder: the FOLDER being de-duplicated, or None
        root: the folder the relative paths start from, or None
        paths: paths of the collection's files

    Raises:
        DestinationError naming the problem
    """

    if os.path.lexists(target) and not os.path.isdir(target):
        raise DestinationError(f"--move-to {target} is not a folder: give a folder to move the duplicates into")

    real = os.path.realpath(target)
    if folder and within(real, os.path.realpath(folder)):
        raise DestinationError(f"--move-to {target} is inside {folder}: the moved files would be found again; choose a folder outside it")
    if root and real == os.path.realpath(root):
        raise DestinationError(f"--move-to {target} is {root}, the folder the moved files keep their paths relative to: choose a folder outside it")

    folders = {}
    for path in paths:
        if path:
            folders.setdefault(os.path.realpath(os.path.dirname(os.path.abspath(path))), path)

    for parent, path in folders.items():
        if within(real, parent):
            raise DestinationError(f"--move-to {target} is inside {parent}, a folder of the collection: the moved files would be found again; choose a folder outside it")
        if within(parent, real):
            raise DestinationError(f"--move-to {target} holds files of the collection (such as {path}): choose a folder that holds none")
