"""
Storage module: crash-safe save and load of Embeddings indexes.

An index at PATH is a symbolic link to a complete version directory in `.PATH.versions/` beside it. save() writes a
new version, marks it complete, then swaps the link in one atomic rename, so a process killed at any point leaves
PATH pointing at the previous complete version. Readers resolve the link once and load one version.

One writer at a time: lock() takes an exclusive lock on `.PATH.lock` beside the index for as long as a writer has
the index loaded (load, change, save), so two writers never lose each other's rows; save() takes it too.
"""

import contextlib
import json
import os
import shutil
import sys
import threading
import time
import uuid

try:
    import fcntl
except ImportError:  # pragma: no cover (not POSIX: no locking)
    fcntl = None

# Written into a version directory once it is completely saved
MARKER = ".complete"

# Older versions kept after a save, for readers still loading them
KEEP = 2


def save(embeddings, path):
    """
    Saves an index at path atomically: the previous version stays loadable until the new one is complete.

    Args:
        embeddings: txtai Embeddings instance
        path: index path (a directory link managed by this module)

    Returns:
        directory of the new version
    """

    path = os.path.abspath(path)
    with lock(path):
        return write(embeddings, path)


def write(embeddings, path):
    """
    Writes a new version of an index and switches the link to it: save() with the lock held.

    Args:
        embeddings: txtai Embeddings instance
        path: absolute index path

    Returns:
        directory of the new version
    """

    store = versions(path)
    os.makedirs(store, exist_ok=True)

    # An index saved by plain txtai at path: keep it as a version, so the link can take its place
    if os.path.isdir(path) and not os.path.islink(path):
        legacy = os.path.join(store, name())
        os.rename(path, legacy)
        mark(legacy)
        link(legacy, path)

    # Write the new version completely, then switch the link to it
    version = os.path.join(store, name())
    embeddings.save(version)
    mark(version)
    link(version, path)

    prune(store, version)
    return version


def load(path, embeddings=None):
    """
    Loads the current version of an index saved with save(), or any plain txtai index directory.

    Args:
        path: index path
        embeddings: Embeddings instance to load into, defaults to a new one

    Returns:
        Embeddings
    """

    # pylint: disable=C0415
    if not embeddings:
        from txtai import Embeddings

        embeddings = Embeddings()

    embeddings.load(current(path))
    return embeddings


def current(path):
    """
    Resolves the directory of the current complete version of an index.

    Args:
        path: index path

    Returns:
        directory to load
    """

    path = os.path.abspath(path)
    if os.path.exists(path):
        return os.path.realpath(path)

    # Link missing (a crash during the first conversion of a plain directory): newest complete version
    store = versions(path)
    complete = [x for x in sorted(os.listdir(store)) if os.path.exists(os.path.join(store, x, MARKER))] if os.path.isdir(store) else []
    if not complete:
        raise FileNotFoundError(f"{path}: no index found")

    return os.path.join(store, complete[-1])


def exists(path):
    """
    Checks if an index exists at path.

    Args:
        path: index path

    Returns:
        True if an index can be loaded from path
    """

    return config(path) is not None


def config(path):
    """
    Reads the configuration of the current version of an index without loading it (and without importing txtai,
    so that the command line checks its arguments at once). An index is a directory whose config.json has an
    offset, as txtai's Embeddings.exists() checks; a pickled `config` file (older txtai) is checked by txtai.

    Args:
        path: index path

    Returns:
        configuration dict, or None when there is no index at path
    """

    try:
        directory = current(path)
    except FileNotFoundError:
        return None

    name = os.path.join(directory, "config.json")
    if not os.path.isfile(name):
        # pylint: disable=C0415
        if not os.path.isfile(os.path.join(directory, "config")):
            return None

        from txtai import Embeddings

        return {} if Embeddings().exists(directory) else None

    try:
        with open(name, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None

    return data if isinstance(data, dict) and "offset" in data else None


def versions(path):
    """
    Directory holding the versions of the index at path.

    Args:
        path: absolute index path

    Returns:
        versions directory
    """

    parent, base = os.path.split(path)
    return os.path.join(parent, f".{base}.versions")


def name():
    """
    New version name: sorts by creation time, unique across processes.

    Returns:
        version directory name
    """

    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def mark(version):
    """
    Marks a version complete, after its files are flushed to disk.

    Args:
        version: version directory
    """

    for root, _, files in os.walk(version):
        for file in files:
            with open(os.path.join(root, file), "rb") as f:
                os.fsync(f.fileno())

    with open(os.path.join(version, MARKER), "w", encoding="utf-8") as f:
        f.write(str(time.time()))
        f.flush()
        os.fsync(f.fileno())


def link(version, path):
    """
    Points path at version in one atomic rename.

    Args:
        version: version directory
        path: index path
    """

    temp = f"{path}.link-{uuid.uuid4().hex[:8]}"
    os.symlink(os.path.relpath(version, os.path.dirname(path)), temp)
    os.replace(temp, path)

    # Persist the rename
    directory = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def prune(store, version):
    """
    Removes incomplete versions left by crashed writers and all but the newest complete ones.

    Args:
        store: versions directory
        version: the current version, never removed
    """

    entries = sorted(os.listdir(store))
    complete = [x for x in entries if os.path.exists(os.path.join(store, x, MARKER))]
    keep = set(complete[-(KEEP + 1) :]) | {os.path.basename(version)}

    # Incomplete versions newer than the current one may belong to a writer still running
    newest = os.path.basename(version)
    for entry in entries:
        if entry not in keep and (entry in complete or entry < newest):
            shutil.rmtree(os.path.join(store, entry), ignore_errors=True)


class LockedError(Exception):
    """
    Another process is writing the index. The message names it.
    """


# Locks this process holds: absolute index path -> [lock file, depth]
HELD, GUARD = {}, threading.Lock()


@contextlib.contextmanager
def lock(path):
    """
    Holds the write lock of an index: an exclusive lock (fcntl.flock) on `.PATH.lock` beside it, which the system
    releases when the process ends, however it ends. Re-entrant within a process. The lock file names the holder
    (pid, command line, start time) for the message another writer gets.

    Args:
        path: index path

    Raises:
        LockedError when another process holds the lock
    """

    path = os.path.abspath(path)
    with GUARD:
        held = HELD.get(path)
        if held:
            held[1] += 1
        else:
            HELD[path] = [acquire(path), 1]

    try:
        yield
    finally:
        with GUARD:
            HELD[path][1] -= 1
            if not HELD[path][1]:
                HELD.pop(path)[0].close()


def acquire(path):
    """
    Takes the lock file of an index without waiting.

    Args:
        path: absolute index path

    Returns:
        open lock file, the lock held

    Raises:
        LockedError naming the holder
    """

    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    name = os.path.join(parent, f".{base}.lock")

    # pylint: disable=R1732
    handle = open(name, "a+", encoding="utf-8")
    if not fcntl:
        return handle

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        # The holder writes its name right after it takes the lock: give it a moment
        holder, deadline = "", time.time() + 1
        while not holder and time.time() < deadline:
            handle.seek(0)
            holder = handle.read().strip()
            time.sleep(0 if holder else 0.05)
        handle.close()
        holder = holder or "another process"
        raise LockedError(f"the index at {path} is being written by {holder}: wait for it to finish, then run again") from None

    # Name the holder for the next writer
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} ({command()}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
    handle.flush()
    return handle


def command():
    """
    The command line of this process, for the lock file.

    Returns:
        string like "txtai_imagehash index photos --index pictures"
    """

    argv = sys.argv or [sys.executable]
    name = os.path.basename(os.path.dirname(argv[0])) if os.path.basename(argv[0]) == "__main__.py" else os.path.basename(argv[0])
    return " ".join([name or sys.executable, *argv[1:]])
