"""
One writer per index: two command line runs that write one index at the same time never lose rows. The second
waits for nothing: it exits with code 2 and names the process that holds the index.
"""

import os
import subprocess
import sys

import pytest

from txtai_imagehash import storage

from helpers import rows

# Concurrent command line runs
pytestmark = pytest.mark.slow


def folder(path, photos, names, copies):
    """
    Writes copies of photos into a folder, each copy re-compressed at its own quality (so every file differs).

    Returns:
        set of file paths
    """

    path.mkdir()
    files = set()
    for name in names:
        for copy in range(copies):
            file = path / f"{name}-{copy}.jpg"
            photos[name].save(file, quality=50 + copy)
            files.add(str(file))

    return files


def start(*args):
    """
    Starts the command line in a new process.

    Returns:
        Popen
    """

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "txtai_imagehash", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("existing", [False, True])
def test_two_writers(tmp_path, photos, existing):
    """
    Two `index` runs of different folders into one index, started together (on a new index and on an existing
    one): each exits 0 or exits 2 naming the holder, and the index holds every row of every run that exited 0.
    """

    index = tmp_path / "index"
    expected = set()
    if existing:
        expected = folder(tmp_path / "first", photos, ["astronaut"], 2)
        assert subprocess.run([sys.executable, "-m", "txtai_imagehash", "index", tmp_path / "first", "--index", index, "--quiet"], check=False).returncode == 0

    a = folder(tmp_path / "a", photos, ["coffee", "rocket", "chelsea"], 12)
    b = folder(tmp_path / "b", photos, ["coins", "camera", "horse"], 12)
    processes = [start("index", tmp_path / "a", "--index", index, "--quiet"), start("index", tmp_path / "b", "--index", index, "--quiet")]
    outputs = [process.communicate(timeout=300) for process in processes]

    codes = [process.returncode for process in processes]
    assert sorted(codes) in ([0, 0], [0, 2]), outputs
    for process, (_, error), files in zip(processes, outputs, [a, b]):
        if process.returncode == 0:
            expected |= files
        else:
            other = processes[0] if process is processes[1] else processes[1]
            assert f"is being written by process {other.pid}" in error and "Traceback" not in error, error

    assert set(rows(index)) == expected


def test_lock_names_holder(tmp_path):
    """
    storage.lock() is re-entrant in one process; another process that asks for it gets a LockedError naming the
    holder's pid and command line.
    """

    index = str(tmp_path / "index")
    with storage.lock(index):
        with storage.lock(index):
            pass

        code = f"from txtai_imagehash import storage\ntry:\n    storage.lock({index!r}).__enter__()\nexcept storage.LockedError as e:\n    print(e)"
        output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        assert f"is being written by process {os.getpid()}" in output and "pytest" in output, output

    # Released: the other process gets it now
    code = f"from txtai_imagehash import storage\nwith storage.lock({index!r}):\n    print('locked')"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "locked\n"
