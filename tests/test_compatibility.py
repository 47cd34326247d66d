"""
Compatibility tests: indexes and YAML saved by an earlier layout of the package (tests/data/legacy, see its README)
load with the current code and give the answers recorded when they were saved.
"""

import json
import os
import shutil

import pytest
import yaml

from txtai import Embeddings
from txtai.app import Application

import txtai_imagehash

from txtai_imagehash import ImageHash, query, search
from txtai_imagehash.keypoints.verify import INLIERS

LEGACY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy")


@pytest.fixture(scope="module")
def legacy(tmp_path_factory):
    """
    A copy of the legacy indexes (symlinks kept), with the answers recorded when they were saved.
    """

    path = tmp_path_factory.mktemp("legacy") / "legacy"
    shutil.copytree(LEGACY, path, symlinks=True)
    with open(path / "expected.json", encoding="utf-8") as f:
        return path, json.load(f)


@pytest.mark.parametrize("name", ["recipe", "vectors", "hamming"])
def test_recipe_and_vector_indexes(legacy, name):
    path, expected = legacy
    image = str(path / "images" / "rocket.jpg")

    embeddings = Embeddings()
    embeddings.load(str(path / name))
    assert embeddings.count() == expected[name]["count"]

    # The SQL functions of the saved config resolve by their dotted paths
    sql = query(ImageHash()(image), select="id", metric="hamming", limit=3)
    assert embeddings.search(sql) == expected[name]["sql"]

    if "vector" in expected[name]:
        assert [[row["id"], row["score"]] for row in embeddings.search(image, 3)] == expected[name]["vector"]


def test_robust_index(legacy):
    path, expected = legacy
    embeddings = Embeddings()
    embeddings.load(str(path / "robust"))
    assert embeddings.count() == expected["robust"]["count"]

    def strip(rows):
        # Inlier counts move with the query's keypoint detection (tuned since): a keypoint match stays a match
        return [{**row, "path": os.path.basename(row["path"]), "inliers": row["inliers"] >= INLIERS} for row in rows]

    # Keypoints (the graph slot's saved dotted path), vectors and hashes answer as before
    assert strip(search(embeddings, str(path / "images" / "rocket.jpg"))) == strip(expected["robust"]["search"])
    assert strip(search(embeddings, str(path / "query-crop.jpg"))) == strip(expected["robust"]["crop"])


def test_command_line_index(legacy):
    path, expected = legacy
    from txtai_imagehash import storage  # pylint: disable=C0415

    embeddings = storage.load(str(path / "cli"))
    assert embeddings.count() == expected["cli"]["count"]

    # Inlier counts move with the query's keypoint detection (tuned since): a keypoint match stays a match
    rows = search(embeddings, str(path / "images" / "rocket.jpg"))
    rows = [{**row, "id": os.path.basename(row["id"]), "path": os.path.basename(row["path"]), "inliers": row["inliers"] >= INLIERS} for row in rows]
    assert rows == [{**row, "id": os.path.basename(row["id"]), "inliers": row["inliers"] >= INLIERS} for row in expected["cli"]["search"]]


def test_application_yaml(legacy, tmp_path):
    path, _ = legacy
    with open(path / "app.yml", encoding="utf-8") as f:
        config = yaml.safe_load(f)

    application = Application(config)
    images = sorted(str(path / "images" / name) for name in os.listdir(path / "images"))
    results = list(application.workflow("index", images))
    assert [result["id"] for result in results] == images and all("text" in result for result in results)

    value = list(application.workflow("hash", [images[0]]))[0]
    rows = application.search(query(value, select="id", metric="hamming", limit=1))
    assert rows[0]["id"] == images[0] and rows[0]["hamming"] == 0


def test_dotted_paths():
    """
    Every dotted path that saved configs and YAML name resolves the way txtai resolves it.
    """

    # pylint: disable=C0415
    from txtai.util import Resolver

    paths = [
        "txtai_imagehash.distance",
        "txtai_imagehash.hamming",
        "txtai_imagehash.ImageHash",
        "txtai_imagehash.encoder.ImageEncoder",
        "txtai_imagehash.vectors.HashVectors",
        "txtai_imagehash.ann.HammingIndex",
        "txtai_imagehash.keypoints.Keypoints",
        "txtai_imagehash.postgres.PostgreSQL",
        "txtai_imagehash.postgres.PGVector",
        "txtai_imagehash.workflow.ImageDocuments",
        "txtai_imagehash.workflow.IndexTask",
    ]
    for name in paths:
        assert callable(Resolver()(name)), name

    assert txtai_imagehash.distance("ab", "ac") == 1 and txtai_imagehash.hamming("0f", "0e") == 1
