"""
File names that are not valid UTF-8 (any bytes but / and NUL are allowed on Linux): the index stores ids and paths
as text, so such a file is skipped with a clear per-file error and the run goes on with the rest.
"""

import os

import pytest

from txtai_imagehash import documents

from helpers import rows, run

# Undecodable bytes in a name, as os.fsdecode gives them (surrogate escapes)
BAD = os.fsdecode(b"bad-\xff\xfe.jpg")


@pytest.fixture
def named(tmp_path, photos):
    """
    A folder with two good photos, one photo under a name that is not UTF-8 and one in a subfolder whose name is not.

    Returns:
        folder path
    """

    folder = tmp_path / "p"
    (folder / os.fsdecode(b"sub-\xe9")).mkdir(parents=True)
    photos["coffee"].save(folder / "coffee.jpg")
    photos["coffee"].save(folder / "coffee-copy.jpg", quality=60)
    photos["rocket"].save(os.path.join(folder, BAD))
    photos["chelsea"].save(os.path.join(folder, os.fsdecode(b"sub-\xe9"), "cat.jpg"))
    return folder


@pytest.mark.slow
def test_index_and_dedup(tmp_path, named):
    """
    index and dedup go on past the names: the good files are indexed and grouped, each bad name is listed once with
    its reason, shown with its bytes escaped.
    """

    index = tmp_path / "index"
    result = run("index", named, "--index", index)
    assert result.returncode == 0, result.stderr
    assert "2 added" in result.stderr and "Could not read 2 files" in result.stderr
    listed = result.stderr.split("Could not read 2 files:")[1]
    assert listed.count("bad-\\xff\\xfe.jpg: file name is not valid UTF-8") == 1, result.stderr
    assert listed.count("sub-\\xe9/cat.jpg: file name is not valid UTF-8") == 1, result.stderr
    assert set(rows(index)) == {str(named / "coffee.jpg"), str(named / "coffee-copy.jpg")}

    result = run("dedup", named, "--index", index, "--fail-on-duplicates")
    assert result.returncode == 1, result.stderr
    assert "1 duplicate group, 1 duplicate" in result.stdout and "not valid UTF-8" in result.stderr


def test_documents(named):
    """
    documents() skips the name and collects the error, the other images go on.
    """

    errors = []
    paths = [str(named / "coffee.jpg"), os.path.join(named, BAD)]
    found = [uid for uid, _, _ in documents([(path, path) for path in paths], errors=errors)]
    assert found == [str(named / "coffee.jpg")]
    assert len(errors) == 1 and errors[0].reason.startswith("file name is not valid UTF-8")
    assert errors[0].source == os.path.join(str(named), "bad-\\xff\\xfe.jpg")


def test_workflow(named):
    """
    The application's index workflow answers an error record for the name, with the bytes escaped so that the
    record is valid JSON text, and indexes the rest.
    """

    # pylint: disable=C0415
    import json

    from txtai.app import Application

    from txtai_imagehash import APPLICATION

    app = Application(APPLICATION)
    results = list(app.workflow("index", [str(named / "coffee.jpg"), os.path.join(named, BAD)]))
    assert results[0]["id"] == str(named / "coffee.jpg") and "text" in results[0]
    assert results[1]["error"].endswith("file name is not valid UTF-8 (ids and paths are stored as text): rename the file to index it")
    assert results[1]["id"] == results[1]["path"] == os.path.join(str(named), "bad-\\xff\\xfe.jpg")
    json.dumps(results[1], ensure_ascii=False).encode("utf-8")
    assert app.count() == 1
