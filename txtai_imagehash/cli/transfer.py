"""
Transfer module: moves one file without ever overwriting one or leaving a stray copy. On one file system a move is a
hard link under the new name (which fails if the name was taken meanwhile, where a rename would replace it), then the
old name is unlinked (a rename where there are no hard links). Across file systems it is a copy to a temporary name
beside the destination, flushed to disk, renamed into place, then the original is unlinked. If the original cannot
be removed, the new name is removed again. A process killed
mid-copy leaves only the temporary name (see partial()), which undo recognizes and removes.
"""

import errno
import filecmp
import os
import shutil

# Suffix of a copy in progress: ".NAME.txtai-imagehash-partial" beside the destination
PARTIAL = ".txtai-imagehash-partial"


def transfer(source, destination, sibling=None):
    """
    Moves a file (or a symbolic link, as a link) to a destination that does not exist yet, creating its folder.

    Args:
        source: file path
        destination: new path
        sibling: where another name of the same file (a hard link) was moved already, or None: destination becomes a
                 hard link of it, so that the names stay one file also across file systems

    Raises:
        OSError: nothing moved (FileExistsError when the destination exists)
    """

    if os.path.lexists(destination):
        raise FileExistsError(errno.EEXIST, f"{destination} exists, not overwritten", destination)

    os.makedirs(os.path.dirname(destination), exist_ok=True)
    try:
        # A second name that cannot replace a file that appeared meanwhile, then the first name goes
        os.link(sibling if sibling and same(sibling, source) else source, destination, follow_symlinks=False)
    except OSError as error:
        if error.errno == errno.EEXIST:
            raise
        if error.errno != errno.EXDEV:
            # No hard links on this file system: rename
            os.rename(source, destination)
            return

        # Another file system: copy
        copy(source, destination)

    try:
        os.unlink(source)
    except OSError as error:
        os.unlink(destination)
        raise OSError(error.errno, f"moved, but the original could not be removed ({error.strerror}), so the new name was removed again") from error


def link(text, source, destination):
    """
    Moves a symbolic link: a new link with text at destination (never replacing a file), then the old one goes.

    Args:
        text: what the new link points at
        source: the link's path
        destination: new path
    """

    os.makedirs(os.path.dirname(destination), exist_ok=True)
    os.symlink(text, destination)
    try:
        os.unlink(source)
    except OSError:
        os.unlink(destination)
        raise


def copy(source, destination):
    """
    Copies a file to a destination through a temporary name in the destination's folder: the bytes and metadata
    (mtime, permissions) are flushed to disk before the rename makes the copy appear under its name.

    Args:
        source: file path
        destination: new path, on another file system
    """

    temporary = partial(destination)
    if os.path.lexists(temporary):
        # Left by a killed run: ours
        os.unlink(temporary)

    try:
        if os.path.islink(source):
            os.symlink(os.readlink(source), temporary)
        else:
            with open(source, "rb") as reader, open(temporary, "xb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
                writer.flush()
                os.fsync(writer.fileno())
            shutil.copystat(source, temporary)

        if os.path.lexists(destination):
            raise FileExistsError(errno.EEXIST, f"{destination} exists, not overwritten", destination)

        os.rename(temporary, destination)
        flush(os.path.dirname(destination))
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def partial(path):
    """
    Temporary name of a copy in progress to path.

    Args:
        path: destination path

    Returns:
        path of the temporary copy, a hidden file beside path
    """

    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{PARTIAL}")


def same(a, b):
    """
    Checks if two paths hold the same bytes as two separate files (or are symbolic links to the same target): a
    leftover copy of a move whose original was not removed.

    Args:
        a: path
        b: path

    Returns:
        True if b is a copy of a
    """

    try:
        if os.path.islink(a) or os.path.islink(b):
            return os.path.islink(a) and os.path.islink(b) and os.readlink(a) == os.readlink(b)

        if not os.path.isfile(a) or not os.path.isfile(b) or os.path.samefile(a, b):
            return False

        return os.path.getsize(a) == os.path.getsize(b) and filecmp.cmp(a, b, shallow=False)
    except OSError:
        return False


def flush(folder):
    """
    Persists the entries of a folder (a rename into it).

    Args:
        folder: folder path
    """

    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
