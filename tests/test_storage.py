"""
Crash safety and concurrency: a writer killed mid-save leaves the previous version loadable, appends never lose
rows, and readers never see errors while a writer upserts.
"""

import multiprocessing
import os
import signal
import time

import pytest

from txtai import Embeddings

from txtai_imagehash import config, documents, query
from txtai_imagehash.storage import MARKER, current, exists, load, save, versions

# Fork: the children share the parent's imported modules, so they start in milliseconds
CONTEXT = multiprocessing.get_context("fork")

BATCH = 5000


def rows(start, count):
    """
    Synthetic hash rows: hex text and a path, no image objects.
    """

    return [(uid, {"text": f"{uid * 2654435761 % 2**64:016x}", "path": f"/photos/{uid}.jpg"}, None) for uid in range(start, start + count)]


def writer(path, rounds, queue):
    """
    Appends a batch and saves, round after round, announcing each save before it starts and after it ends.
    """

    embeddings = load(path)
    for x in range(rounds):
        embeddings.upsert(rows(embeddings.count(), BATCH))
        queue.put(("saving", embeddings.count()))
        save(embeddings, path)
        queue.put(("saved", embeddings.count()))


def reader(path, stop, queue):
    """
    Loads the current version and queries it until told to stop; reports counts seen and errors.
    """

    counts, errors = [], []
    while not stop.is_set():
        try:
            embeddings = load(path)
            result = embeddings.search(query("0" * 16, select="id", metric="hamming", limit=1))
            assert len(result) == 1
            counts.append(embeddings.count())
            embeddings.close()
        except Exception as error:  # pylint: disable=W0703
            errors.append(repr(error))

    queue.put((counts, errors))


@pytest.fixture
def index(tmp_path):
    """
    A saved index of one batch.
    """

    path = str(tmp_path / "index")
    embeddings = Embeddings(config())
    embeddings.index(rows(0, BATCH))
    save(embeddings, path)
    return path


def test_save_is_versioned_and_loadable(index, photos, tmp_path):
    """
    save() links the path to a complete version; plain txtai loads it; a plain txtai directory is adopted.
    """

    assert os.path.islink(index) and os.path.exists(os.path.join(current(index), MARKER))
    embeddings = Embeddings()
    embeddings.load(index)
    assert embeddings.count() == BATCH

    # A plain txtai save at a path becomes the first version, then the new one replaces it
    plain = str(tmp_path / "plain")
    embeddings = Embeddings(config())
    embeddings.index(documents([photos["rocket"]]))
    embeddings.save(plain)
    embeddings.upsert(documents([(1, photos["coffee"])]))
    save(embeddings, plain)
    assert os.path.islink(plain) and load(plain).count() == 2
    assert exists(plain) and not exists(str(tmp_path / "missing"))


def test_append_never_loses_rows(index):
    """
    Load, append, save, several times: every earlier row is still there.
    """

    for x in range(3):
        embeddings = load(index)
        embeddings.upsert(rows(embeddings.count(), 100))
        save(embeddings, index)
        embeddings.close()

    embeddings = load(index)
    assert embeddings.count() == BATCH + 300
    assert {row["id"] for row in embeddings.search("select id from txtai", limit=BATCH + 300)} == {str(x) for x in range(BATCH + 300)}

    # Old versions are pruned
    assert len(os.listdir(versions(os.path.abspath(index)))) <= 3


@pytest.mark.slow
def test_sigkill_mid_save(index):
    """
    A writer killed with SIGKILL during save: the index loads, with the rows of the last completed save.
    """

    interrupted = 0
    for delay in [0.02, 0.1, 0.3]:
        queue = CONTEXT.Queue()
        process = CONTEXT.Process(target=writer, args=(index, 100, queue))
        process.start()

        # Wait until a save starts after at least one completed, then kill it mid-way
        completed = load(index).count()
        while True:
            event, count = queue.get(timeout=120)
            if event == "saved":
                completed = count
            elif completed > BATCH or delay > 0.05:
                break

        time.sleep(delay)
        os.kill(process.pid, signal.SIGKILL)
        process.join()

        # The previous version, or the one being saved if it completed before the kill
        embeddings = load(index)
        assert embeddings.count() in (completed, count)
        assert len(embeddings.search(query("f" * 16, select="id", metric="hamming", limit=3))) == 3
        embeddings.close()

        store = versions(os.path.abspath(index))
        interrupted += any(not os.path.exists(os.path.join(store, x, MARKER)) for x in os.listdir(store))

    # At least one kill landed inside a save (an incomplete version was left behind)
    assert interrupted


@pytest.mark.slow
def test_readers_never_see_errors(index):
    """
    Three readers load and query the index in a loop while a writer appends and saves: no errors, and the
    readers see the index grow.
    """

    stop, queue, results = CONTEXT.Event(), CONTEXT.Queue(), CONTEXT.Queue()
    readers = [CONTEXT.Process(target=reader, args=(index, stop, results)) for _ in range(3)]
    for process in readers:
        process.start()

    process = CONTEXT.Process(target=writer, args=(index, 4, queue))
    process.start()
    process.join(timeout=300)
    stop.set()

    reports = [results.get(timeout=120) for _ in readers]
    for process in readers:
        process.join()

    for counts, errors in reports:
        assert not errors, errors[:3]
        assert counts and all(count % BATCH == 0 for count in counts)

    # Together the readers saw more than one version
    assert len({count for counts, _ in reports for count in counts}) > 1
    assert load(index).count() == 5 * BATCH
