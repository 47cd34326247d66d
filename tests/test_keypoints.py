"""
Stage 2 search: ORB keypoints in a faiss binary descriptor index (txtai's graph slot), votes, affine verification,
build(keypoints=True), search(), persistence, upserts and deletes, the IVF path, the CLI and YAML, and the core
package without OpenCV.
"""

import json
import os
import subprocess
import sys

import faiss
import numpy as np
import pytest

from PIL import Image, ImageFilter
from txtai import Embeddings

from txtai_imagehash import storage
from txtai_imagehash.keypoints import descriptors as descriptorindex
from txtai_imagehash.keypoints import features as featuresmodule
from txtai_imagehash.keypoints.verify import INLIERS
from txtai_imagehash.cli import main
from txtai_imagehash.samples import attack, distractors
from txtai_imagehash.keypoints import BACKEND, Descriptors, Features, Keypoints, fit, verify
from txtai_imagehash.robust import add, build, search

from helpers import run

# Crops that stage 1 misses and stage 2 finds
CROPS = ["crop50", "seedcrop", "offcrop"]


@pytest.fixture(scope="module")
def index(collection):
    """
    Stage 2 index of the photos, the generated images and 12 distractors.
    """

    return build(list({**collection, **distractors(12, seed=1)}.items()), keypoints=True)


def test_spread(photos):
    """
    Kept keypoints are spread over the image: a crop of any quarter of a photo keeps some, and the count is capped.
    """

    features = Features(256)
    points, codes = features(photos["astronaut"])
    assert len(points) == 256 and codes.shape == (256, featuresmodule.BITS // 8) and codes.dtype == np.uint8

    # The descriptors are the first bits of ORB's 256, for the same keypoints
    full, longer = Features(256, bits=256)(photos["astronaut"])
    assert (full == points).all() and longer.shape == (256, 32) and (longer[:, : codes.shape[1]] == codes).all()

    # Every quarter of the resized image holds at least 10% of the keypoints
    half = features.side / 2
    quarters = np.bincount((points[:, 0] >= half).astype(int) * 2 + (points[:, 1] >= half).astype(int), minlength=4)
    assert quarters.min() >= 0.1 * len(points), quarters


def test_smooth(photos, monkeypatch):
    """
    A smooth picture, with too few corners at the first FAST threshold, is filled up with corners of the lower
    thresholds, and its crops are found by keypoints; a sharp photo keeps the same keypoints as with one threshold.
    """

    smooth = {name: photos[name].filter(ImageFilter.GaussianBlur(12)) for name in ["astronaut", "coffee", "rocket"]}

    # The blurred astronaut and coffee are indexed with a sharp photo; the rocket is not
    embeddings = build([("astronaut", smooth["astronaut"]), ("coffee", smooth["coffee"]), ("camera", photos["camera"])], keypoints=True)
    for name in ["astronaut", "coffee"]:
        for kind in ["crop50", "seedcrop"]:
            results = search(embeddings, attack(smooth[name], kind, seed=1))
            assert results and results[0]["id"] == name and results[0]["inliers"] >= INLIERS, (name, kind, results[:1])

    assert not search(embeddings, attack(smooth["rocket"], "crop50", seed=1))

    # Keypoints against the first threshold alone
    features = Features(256)
    monkeypatch.setattr(featuresmodule, "THRESHOLDS", featuresmodule.THRESHOLDS[:1])
    first = Features(256)

    for name, image in smooth.items():
        found, filled = len(first(image)[0]), len(features(image)[0])
        assert found < 128 and filled >= min(256, 2 * found), (name, found, filled)

    points, codes = features(photos["camera"])
    expected = first(photos["camera"])
    assert (points == expected[0]).all() and (codes == expected[1]).all()


def test_mirror(photos):
    """
    The mirror image's keypoints, derived from the image's, match the keypoints detected in the flipped image.
    """

    features = Features(500)
    image = photos["coffee"]
    (_, _), (points, codes) = features(image, mirror=True)
    flipped, flippedcodes = features(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))

    # A detected keypoint within 3 pixels with a descriptor within half the match distance, for most keypoints (the
    # pyramid levels of the flipped image round positions differently)
    found = 0
    for point, code in zip(points, codes):
        near = np.abs(flipped - point).max(axis=1) <= 3
        found += bool(near.any()) and np.unpackbits(flippedcodes[near] ^ code, axis=1).sum(axis=1).min() <= featuresmodule.matching(features.bits) // 2

    assert found >= 0.8 * len(points)


def test_verify():
    """
    An affine copy verifies with every keypoint; random pairs, a mirrored copy and a collapsed fit do not.
    """

    random = np.random.default_rng(0)
    source = random.uniform(0, 512, (60, 2)).astype(np.float32)
    matrix = np.array([[0.7, 0.1, 40], [-0.1, 0.7, 25]], dtype=np.float32)
    target = source @ matrix[:, :2].T + matrix[:, 2]

    found = fit(source, target)
    assert verify(source, target) == found.inliers == 60 and np.allclose(found.matrix, matrix, atol=1e-3)
    assert np.allclose(found.project(source[:3]), target[:3], atol=1e-2)
    inliers, transform = found
    assert inliers == 60 and transform is found.matrix
    assert verify(source, random.uniform(0, 512, (60, 2)).astype(np.float32)) == 0
    assert fit(source, random.uniform(0, 512, (60, 2)).astype(np.float32)) == (0, None)

    # Mirrored: mirror images are queried separately, a reflection is not a copy
    assert fit(source, target * np.array([-1, 1], dtype=np.float32) + np.array([512, 0], dtype=np.float32)) == (0, None)

    # Everything mapped onto a line
    assert verify(source, np.stack([target[:, 0], np.full(60, 100.0, dtype=np.float32)], axis=1)) == 0

    # Too few matches
    assert fit(source[:5], target[:5]) == (0, None)


def test_crops(index, photos):
    """
    Stage 2 finds the original of centre, middle (the txtai article's) and off-centre crops of every photo, with
    inlier keypoints, where stage 1 alone misses many.
    """

    stage1 = build(list(photos.items()))
    hits, misses = [], 0
    for name, image in photos.items():
        for kind in CROPS:
            query = attack(image, kind, seed=1)
            results = search(index, query)
            hits.append(bool(results) and results[0]["id"] == name and results[0]["inliers"] >= INLIERS)

            results = search(stage1, query)
            misses += not results or results[0]["id"] != name

    assert np.mean(hits) >= 0.9, np.mean(hits)
    assert misses >= 0.3 * len(hits)


def test_stage1_fallback(index, collection):
    """
    Images without keypoints (a smooth gradient) are still found by their hash, with 0 inliers: within the loose
    threshold, where keypoints cannot check. A gradient re-encoded at JPEG quality 30 moves its hash further (its DCT
    bits are noise): it is ranked, not verified.
    """

    results = search(index, attack(collection["gradient"], "resize25"))
    assert results[0]["id"] == "gradient" and results[0]["inliers"] == 0 and results[0]["distance"] <= 16

    assert search(index, attack(collection["gradient"], "jpeg30")) == []
    assert search(index, attack(collection["gradient"], "jpeg30"), maxdistance=36)[0]["id"] == "gradient"


def test_unrelated(index):
    """
    Unrelated images match nothing by keypoints.
    """

    for name, image in distractors(12, seed=2).items():
        assert all(row["inliers"] == 0 for row in search(index, image)), name


def test_graph_slot(index, collection):
    """
    The keypoint index is the Embeddings graph: one slot per image (trimmed rows have no image), the configured
    backend, and graph queries are not claimed.
    """

    assert isinstance(index.graph, Keypoints)
    assert index.config["graph"]["backend"] == BACKEND and index.config["imagehash"]["keypoints"] is True
    assert index.graph.count() == len(collection) + 12
    assert not index.graph.isquery(["select id from txtai"])


def test_save_load(tmp_path, index, photos):
    """
    A saved index, directory or archive, and a storage.save() version reload with their keypoints and return the same
    results.
    """

    query = attack(photos["rocket"], "seedcrop")
    expected = search(index, query)

    for path in [tmp_path / "index", tmp_path / "index.tar.gz"]:
        index.save(str(path))
        loaded = Embeddings()
        loaded.load(str(path))
        assert isinstance(loaded.graph, Keypoints)
        assert search(loaded, query) == expected

    storage.save(index, str(tmp_path / "versioned"))
    assert search(storage.load(str(tmp_path / "versioned")), query) == expected


def test_upsert_delete(photos):
    """
    Deleted images stop matching; upserted images replace their keypoints; a full index() starts over.
    """

    embeddings = build([("a", photos["astronaut"]), ("b", photos["rocket"])], keypoints=True)
    query = attack(photos["astronaut"], "crop50")
    assert search(embeddings, query)[0]["id"] == "a"

    embeddings.delete(["a"])
    assert all(row["id"] != "a" for row in search(embeddings, query))
    assert embeddings.graph.count() == 1

    # Upsert the astronaut under id "b": the rocket's keypoints are gone
    add(embeddings, [("b", photos["astronaut"])])
    assert search(embeddings, query)[0]["id"] == "b"
    assert not any(row["inliers"] for row in search(embeddings, attack(photos["rocket"], "crop50")))
    assert embeddings.graph.count() == 1


@pytest.mark.parametrize("bits", [128, 256])
def test_descriptors_ivf(tmp_path, monkeypatch, bits):
    """
    The descriptor index turns into an IVF past FLAT descriptors, rebuilds at 4x growth, keeps row ids through
    rebuilds and save/load (with its number of bits), and finds every exact descriptor when probing all lists.
    """

    monkeypatch.setattr(descriptorindex, "FLAT", 2000)
    monkeypatch.setattr(descriptorindex, "LIST", 16)
    monkeypatch.setattr(descriptorindex, "CHUNK", 1000)

    random = np.random.default_rng(0)
    codes = random.integers(0, 256, (16000, bits // 8), dtype=np.uint8)
    descriptors = Descriptors(nprobe=4096, bits=bits)

    expected = []
    for start, end, kind, trained in [(0, 1500, "IndexBinaryFlat", 0), (1500, 3000, "IndexBinaryIVF", 3000), (3000, 5000, "IndexBinaryIVF", 3000), (5000, 16000, "IndexBinaryIVF", 16000)]:
        descriptors.add(codes[start:end])
        assert len(descriptors) == end
        descriptors.optimize()
        assert type(descriptors.index).__name__ == kind and descriptors.trained == trained
        expected.append(end)

    # Every row is found at distance 0 under its own id
    rows = np.arange(0, 16000, 7)
    distances, found = descriptors.search(codes[rows], 1)
    assert (found[:, 0] == rows).all() and (distances[:, 0] == 0).all()

    # Rows read back in order
    assert (np.concatenate([chunk for _, chunk in descriptors.indexed()]) == codes).all()

    # A query batch below SERIAL runs on one thread and gives the multi-threaded result; the thread count is restored
    threads = faiss.omp_get_max_threads()
    monkeypatch.setattr(descriptorindex, "SERIAL", 1)
    parallel = descriptors.search(codes[rows], 3)
    monkeypatch.setattr(descriptorindex, "SERIAL", 1 << 30)
    serial = descriptors.search(codes[rows], 3)
    assert (serial[0] == parallel[0]).all() and (serial[1] == parallel[1]).all()
    assert faiss.omp_get_max_threads() == threads

    descriptors.save(str(tmp_path / "descriptors"))
    loaded = Descriptors(nprobe=4096)
    loaded.load(str(tmp_path / "descriptors"), descriptors.trained)
    assert loaded.bits == bits and (loaded.search(codes[rows], 1)[1][:, 0] == rows).all()

    # Descriptors of another length cannot join
    with pytest.raises(ValueError, match=f"cannot join an index of {bits}-bit descriptors"):
        loaded.add(np.zeros((2, 40 - bits // 8), dtype=np.uint8))


def test_descriptor_bits(tmp_path, photos):
    """
    A new keypoint index stores BITS-bit descriptors; one saved with 256-bit descriptors (as indexes were before they
    were shortened, whose configuration does not name its bits) reloads with them: its queries and the images added
    to it are described with 256 bits, and crops are still found.
    """

    images = [("astronaut", photos["astronaut"]), ("rocket", photos["rocket"])]
    assert build(images, keypoints=True).graph.descriptors.index.d == featuresmodule.BITS
    with pytest.raises(ValueError, match="64, 128, 192 or 256 bits, not 100"):
        build(images, keypoints={"bits": 100})

    embeddings = build(images, keypoints={"bits": 256})
    embeddings.save(str(tmp_path / "index"))

    # The configuration of an index saved before the setting existed
    path = tmp_path / "index" / "config.json"
    saved = json.loads(path.read_text(encoding="utf-8"))
    del saved["graph"]["bits"]
    path.write_text(json.dumps(saved), encoding="utf-8")

    loaded = Embeddings()
    loaded.load(str(tmp_path / "index"))
    assert loaded.graph.descriptors.bits == 256 and "bits" not in loaded.config["graph"]
    assert search(loaded, attack(photos["rocket"], "seedcrop"))[0]["id"] == "rocket"

    # An image added to it is described with 256 bits too, and found by its crops
    add(loaded, [("coffee", photos["coffee"])])
    assert len(loaded.graph.descriptors) == loaded.graph.descriptors.index.ntotal and loaded.graph.descriptors.index.d == 256
    result = search(loaded, attack(photos["coffee"], "crop50"))[0]
    assert result["id"] == "coffee" and result["inliers"] >= INLIERS


def test_ivf_search(monkeypatch, photos):
    """
    search() through the IVF descriptor index (FLAT lowered so that a small index becomes one) still finds crops.
    """

    monkeypatch.setattr(descriptorindex, "FLAT", 1000)
    embeddings = build(list(photos.items()), keypoints=True)
    assert type(embeddings.graph.descriptors.index).__name__ == "IndexBinaryIVF"

    hits = [search(embeddings, attack(image, "crop50"))[0]["id"] == name for name, image in photos.items()]
    assert np.mean(hits) >= 0.9


def test_vectors(photos):
    """
    Keypoints with stage 1 on the binary vector index: crops are found by keypoints, hash matches by vector search.
    """

    embeddings = build(list(photos.items()), vectors=True, keypoints=True)
    results = search(embeddings, attack(photos["chelsea"], "seedcrop"))
    assert results[0]["id"] == "chelsea" and results[0]["inliers"] >= INLIERS

    results = search(embeddings, attack(photos["coffee"], "hflip"))
    assert results[0]["id"] == "coffee" and results[0]["distance"] <= 36


def test_bad_object(tmp_path, photos):
    """
    A document whose image cannot be read is skipped by the keypoint index and the others are indexed.
    """

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff not a jpeg")
    photos["coffee"].save(tmp_path / "coffee.jpg")

    embeddings = Embeddings({"content": True, "defaults": False, "graph": {"backend": BACKEND, "paths": True}})
    embeddings.index([("broken", {"text": "00", "path": str(broken)}, None), ("coffee", {"text": "00", "path": str(tmp_path / "coffee.jpg")}, None)])
    assert embeddings.graph.count() == 1
    assert embeddings.graph.match(attack(photos["coffee"], "crop50"))[0][0] == 1


@pytest.mark.slow
def test_cli(tmp_path, photos, capsys):
    """
    `index --keypoints` builds a keypoint index from a folder, `search` finds the original of a middle crop with inlier
    keypoints, and --keypoints on an index without keypoints is a usage error.
    """

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ["astronaut", "rocket", "coffee", "camera"]:
        photos[name].save(folder / f"{name}.jpg", quality=90)
    attack(photos["rocket"], "seedcrop").save(tmp_path / "query.jpg")

    result = run("index", folder, "--index", tmp_path / "index", "--keypoints", "--quiet")
    assert result.returncode == 0, result.stderr

    result = run("search", tmp_path / "query.jpg", "--index", tmp_path / "index")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "inliers" in lines[0] and lines[1].endswith("rocket.jpg")

    # In this process: an index without keypoints refuses --keypoints
    assert main(["index", str(folder), "--index", str(tmp_path / "plain"), "--no-keypoints", "--quiet"]) == 0
    assert main(["index", str(folder), "--index", str(tmp_path / "plain"), "--keypoints", "--quiet"]) == 2
    assert "has no keypoints" in capsys.readouterr().err


def test_yaml(tmp_path, photos):
    """
    The shipped application with the keypoint graph added in YAML indexes paths through its workflow, and search()
    finds the original of a crop in it.
    """

    # pylint: disable=C0415
    from txtai.app import Application

    from txtai_imagehash import APPLICATION

    config = Application.read(APPLICATION)
    config["embeddings"]["graph"] = {"backend": BACKEND}
    config["embeddings"]["imagehash"] = {"algorithm": "average", "keypoints": True}
    app = Application(config)

    files = []
    for name in ["coffee", "rocket", "astronaut"]:
        photos[name].save(tmp_path / f"{name}.png")
        files.append(str(tmp_path / f"{name}.png"))

    list(app.workflow("index", files))
    results = search(app.embeddings, attack(photos["astronaut"], "crop50"))
    assert results[0]["id"] == str(tmp_path / "astronaut.png") and results[0]["inliers"] >= INLIERS


@pytest.mark.slow
def test_without_opencv(tmp_path, photos):
    """
    The core package works without OpenCV; asking for keypoints says which extra to install.
    """

    photos["coffee"].save(tmp_path / "coffee.png")
    code = f"""
import sys
sys.modules["cv2"] = None
from txtai_imagehash import build, search
embeddings = build([{str(tmp_path / "coffee.png")!r}])
assert search(embeddings, {str(tmp_path / "coffee.png")!r})[0]["id"] == 0
try:
    build([{str(tmp_path / "coffee.png")!r}], keypoints=True)
except ImportError as error:
    print(error)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert 'pip install "txtai-imagehash[keypoints]"' in result.stdout
