"""
Tests for whole-collection de-duplication: pairs, union-find, groups, keepers, JSON.
"""

import json
import shutil

import numpy as np
import pytest

from txtai import Embeddings

from txtai_imagehash import ImageError, ImageHash, build, config, documents, hamming
from txtai_imagehash.duplicates import dedup, tojson
from txtai_imagehash.duplicates.evidence import FLIPPED, Evidence, Link
from txtai_imagehash.duplicates import pairs as pairsmodule
from txtai_imagehash.duplicates.pairs import components, pairs, union
from txtai_imagehash.duplicates.sources import images
from txtai_imagehash.keypoints.verify import INLIERS, TURNED, turned
from txtai_imagehash.hashing.algorithms import THRESHOLDS
from txtai_imagehash.samples import attack, strip
from txtai_imagehash.verification import Rule
from txtai_imagehash.hashing.codec import words as encode


def brute(codes, threshold):
    """
    Reference: all pairs by an N^2 popcount scan.
    """

    distances = np.bitwise_count(codes[:, None, :] ^ codes[None, :, :]).sum(axis=2)
    a, b = np.nonzero(np.triu(distances <= threshold, k=1))
    return set(zip(a.tolist(), b.tolist()))


def planted(rng, count, words, clusters, spread):
    """
    Random codes with clusters of near copies.
    """

    codes = rng.integers(0, 2**64, size=(count, words), dtype=np.uint64, endpoint=False)
    for x in rng.choice(count, clusters, replace=False):
        for y in rng.choice(count, 3, replace=False):
            copy = codes[x].copy()
            for bit in rng.choice(64 * words, rng.integers(0, spread + 1), replace=False):
                copy[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
            codes[y] = copy

    return codes


@pytest.mark.parametrize("threshold", [0, 1, 3, 5, 8, 10])
def test_pairs_match_brute_force(threshold):
    rng = np.random.default_rng(threshold)
    codes = planted(rng, 1500, 1, 200, 12)

    a, b, distance = pairs(np.unique(codes, axis=0), threshold) if threshold == 0 else pairs(codes, threshold)
    if threshold == 0:
        assert len(a) == 0
    else:
        assert set(zip(a.tolist(), b.tolist())) == brute(codes, threshold)
        assert (distance <= threshold).all() and (a < b).all()

    # Components agree with the brute-force graph
    labels = components(codes, threshold)
    for x, y in brute(codes, threshold):
        assert labels[x] == labels[y]


def test_pairs_long_codes():
    # 128-bit hashes: candidates from the first 64 bits, verified on all bits
    rng = np.random.default_rng(5)
    codes = planted(rng, 800, 2, 100, 8)
    a, b, _ = pairs(codes, 6, nbits=128)
    assert set(zip(a.tolist(), b.tolist())) == brute(codes, 6)


@pytest.mark.parametrize("workers", [1, 2])
def test_pairs_among(workers, monkeypatch):
    """
    Pairs with at least one marked row (an image's own hashes against flips and cuts): exactly the pairs that the
    all-rows search (itself checked against brute force above) finds with a marked row, with tables in one process or
    shared by workers.
    """

    monkeypatch.setattr(pairsmodule, "PARALLEL", 100)
    rng = np.random.default_rng(7)
    codes = planted(rng, 1200, 3, 150, 20)
    among = rng.random(len(codes)) < 0.2

    a, b, distance = pairs(codes, 24, nbits=192, radius=6, workers=workers, among=among)
    found = set(zip(a.tolist(), b.tolist()))
    everything = set(zip(*pairs(codes, 24, nbits=192, radius=6, workers=1)[:2]))
    expected = {(x, y) for x, y in everything if among[x] or among[y]}
    assert expected and found == expected and (a < b).all() and (distance <= 24).all()
    assert len(found) < len({(x, y) for x, y in everything})


def test_union_chain():
    # A long shuffled chain needs several hooking rounds
    rng = np.random.default_rng(3)
    order = rng.permutation(5000)
    a, b = order[:-1], order[1:]
    labels = union(np.arange(6000), a, b)
    assert len(set(labels[:5000].tolist()) | set(labels[order].tolist())) == 1
    assert len(set(labels.tolist())) == 1 + 1000
    assert labels[order[0]] == order[:5000].min()


def test_encode():
    codes, nbits = encode(["ff00", "00ff", "0f0f"])
    assert nbits == 16 and codes[:, 0].tolist() == [0xFF00, 0x00FF, 0x0F0F]

    with pytest.raises(ValueError, match="different lengths"):
        encode(["ff", "fff"])


@pytest.fixture(scope="module")
def duplicates(tmp_path_factory, photos):
    """
    A folder of photos with planted near duplicates: smaller copies, re-encoded copies, a byte-identical copy
    and a PNG of the same pixels.
    """

    path = tmp_path_factory.mktemp("duplicates")
    for name in ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins"):
        photos[name].save(path / f"{name}.jpg", quality=92)

    astronaut = photos["astronaut"]
    astronaut.resize((256, 256)).save(path / "astronaut-small.jpg", quality=85)
    astronaut.save(path / "astronaut-low.jpg", quality=30)

    coffee = photos["coffee"]
    coffee.save(path / "coffee.png")
    shutil.copy(path / "coffee.jpg", path / "coffee-copy.jpg")

    chelsea = photos["chelsea"]
    chelsea.resize((chelsea.width // 2, chelsea.height // 2)).save(path / "chelsea-half.jpg")

    (path / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return path


def names(group):
    return sorted(image["path"].rsplit("/", 1)[-1] for image in group["images"])


def test_dedup_folder(duplicates):
    before = sorted(duplicates.iterdir())
    errors = []
    groups = dedup(str(duplicates), errors=errors)

    # The broken file is reported, not fatal
    assert len(errors) == 1 and isinstance(errors[0], ImageError) and "broken.jpg" in str(errors[0])

    byname = {names(group)[0]: group for group in groups}
    assert names(byname["astronaut-low.jpg"]) == ["astronaut-low.jpg", "astronaut-small.jpg", "astronaut.jpg"]
    assert names(byname["coffee-copy.jpg"]) == ["coffee-copy.jpg", "coffee.jpg", "coffee.png"]
    assert names(byname["chelsea-half.jpg"]) == ["chelsea-half.jpg", "chelsea.jpg"]
    assert len(groups) == 3

    # Keepers: most pixels first, then the largest file (the PNG of the same pixels), then the smallest path
    astronaut = byname["astronaut-low.jpg"]
    assert astronaut["images"][0]["path"].endswith("/astronaut.jpg")
    assert astronaut["keeper"] == astronaut["images"][0]["id"]
    assert byname["coffee-copy.jpg"]["images"][0]["path"].endswith("/coffee.png")
    assert byname["chelsea-half.jpg"]["images"][0]["path"].endswith("/chelsea.jpg")

    for group in groups:
        keeper = group["images"][0]
        assert keeper["distance"] == 0 and keeper["match"] == "keeper"
        for image in group["images"]:
            assert {"id", "path", "hash", "width", "height", "bytes", "distance", "match", "inliers"} <= set(image)

            # The robust index's combined hash: resized and re-encoded copies are the same picture
            assert len(image["hash"]) == 48
            assert image["width"] * image["height"] <= keeper["width"] * keeper["height"]
            if image is not keeper:
                assert image["match"] == "same" and image["distance"] <= 12

    # Nothing was deleted
    assert sorted(duplicates.iterdir()) == before and len(before) == 12

    # JSON output round trips
    assert json.loads(tojson(groups)) == groups


def test_dedup_index_matches_folder(duplicates):
    files = sorted(str(path) for path in duplicates.iterdir() if path.name != "broken.jpg")

    # A robust index from build() groups as a folder does (the folder is indexed the same way, in memory)
    fromindex = dedup(build([(path, path) for path in files]))
    fromfolder = dedup(str(duplicates), workers=2)

    assert [names(group) for group in fromindex] == [names(group) for group in fromfolder]
    for a, b in zip(fromindex, fromfolder):
        assert [(x["path"], x["width"], x["height"], x["bytes"], x["distance"], x["match"]) for x in a["images"]] == [
            (x["path"], x["width"], x["height"], x["bytes"], x["distance"], x["match"]) for x in b["images"]
        ]

    # A recipe index (average hash, no keypoints) finds the same groups with its own threshold, its ids the keepers
    embeddings = Embeddings(config())
    embeddings.index(documents(files))
    recipe = dedup(embeddings, threshold=6)
    assert sorted(names(group) for group in recipe) == sorted(names(group) for group in fromfolder)

    rows = {row["id"]: row["path"] for row in embeddings.search("select id, path from txtai", 100)}
    assert all(rows[group["keeper"]] == group["images"][0]["path"] for group in recipe)
    assert all(image["hash"] == ImageHash()(image["path"]) and image["distance"] == hamming(group["images"][0]["hash"], image["hash"]) for group in recipe for image in group["images"])
    embeddings.close()


def test_dedup_index_objects_without_files(photos):
    # No paths: sizes come from the images stored in the index
    big, small = photos["rocket"], photos["rocket"].resize((200, 133))
    embeddings = Embeddings(config())
    embeddings.index(documents([("small", small), ("big", big), ("other", photos["horse"])]))

    groups = dedup(embeddings, threshold=4)
    assert len(groups) == 1 and groups[0]["keeper"] == "big"
    assert [(x["id"], x["width"]) for x in groups[0]["images"]] == [("big", big.width), ("small", 200)]
    embeddings.close()


def test_dedup_hashes_and_threshold():
    values = {"a": "ffffffffffffffff", "b": "fffffffffffffff0", "c": "0000000000000000", "d": "00000000000000ff", "e": "ffffffffffffffff"}

    groups = dedup(values, threshold=4)
    assert [[x["id"] for x in group["images"]] for group in groups] == [["a", "e", "b"]]
    assert [x["distance"] for x in groups[0]["images"]] == [0, 0, 4]

    assert len(dedup(values, threshold=8)) == 2
    assert dedup(values, threshold=0)[0]["keeper"] == "a"

    with pytest.raises(ValueError, match="threshold"):
        dedup(values, threshold=-1)

    with pytest.raises(ValueError, match="'x'"):
        dedup({**values, "x": "not hex"})


def test_dedup_sparse(photos):
    """
    Hash-only dedup() does not group unrelated mostly empty pictures (photos squeezed into a strip of a black canvas,
    within the threshold of each other), and still groups a copy of one, and a mirrored copy (0 bits away, judged
    without the flip penalty).
    """

    pictures = {name: strip(image) for name, image in photos.items()}
    copies = [("copy", attack(pictures["astronaut"], "jpeg30")), ("mirror", attack(pictures["coffee"], "hflip"))]
    embeddings = build([*pictures.items(), *copies])

    rows = {row["id"]: row["text"] for row in embeddings.search("select id, text from txtai", 100) if row["id"] in pictures}
    near = [(x, y) for x in rows for y in rows if x < y and hamming(rows[x], rows[y]) <= THRESHOLDS["combined"]]
    assert len(near) >= 5, near

    groups = dedup(embeddings)
    assert sorted(sorted(x["id"] for x in group["images"]) for group in groups) == [["astronaut", "copy"], ["coffee", "mirror"]]
    embeddings.close()


def test_build_index_trimmed_rows_are_not_duplicates(photos):
    """
    An index made by build() holds a second (trimmed) row for images with a uniform border: dedup treats the
    image once, so a bordered photo alone is not a duplicate of itself, and a stored id with a quote still works.
    """

    from PIL import ImageOps

    bordered = ImageOps.expand(photos["coffee"], border=40, fill="white")
    embeddings = build([("it's-coffee", bordered), ("rocket", photos["rocket"])])
    assert "it's-coffee#trimmed" in [row["id"] for row in embeddings.search("select id from txtai", 10)]

    assert dedup(embeddings) == []

    embeddings.upsert([("rocket-copy", {"object": photos["rocket"], "text": embeddings.search("select text from txtai where id = 'rocket'")[0]["text"], "image": "rocket-copy"}, None)])
    groups = dedup(embeddings)
    assert len(groups) == 1 and sorted(image["id"] for image in groups[0]["images"]) == ["rocket", "rocket-copy"]


@pytest.mark.parametrize("bits, threshold", [(64, 63), (84, 83), (256, 70), (676, 67), (4096, 409)])
def test_pairs_large_thresholds(bits, threshold):
    """
    Thresholds of 64 bits and more (long hashes at their default thresholds, or a threshold just under the hash
    length): blocks over all words, the same pairs as brute force.
    """

    rng = np.random.default_rng(bits)
    words = -(-bits // 64)
    codes = planted(rng, 120, words, 15, min(threshold + 10, bits))
    if bits % 64:
        codes[:, -1] &= np.uint64((1 << (bits % 64)) - 1)

    a, b, _ = pairs(codes, threshold, nbits=bits)
    assert set(zip(a.tolist(), b.tolist())) == brute(codes, threshold)


def test_dedup_threshold_range():
    """
    A threshold of the hash length or more is an error naming the range; one less is accepted.
    """

    values = {"a": "ffffffffffffffff", "b": "0000000000000000"}
    with pytest.raises(ValueError, match="expected an integer from 0 to 63"):
        dedup(values, threshold=64)

    assert not dedup(values, threshold=63)
    assert [len(group["images"]) for group in dedup({"a": values["a"], "c": "fffffffffffffff0"}, threshold=63)] == [2]


def test_turned_keypoint_fit_needs_hash_or_more_inliers(photos):
    """
    A keypoint fit that turns the picture by a quarter or half turn, between images whose turned hashes are far apart,
    is accepted only with TURNED inliers (unrelated pictures of similar shapes fit that way with a few); an upright fit
    needs INLIERS, and a hash that supports the turn is enough.
    """

    pytest.importorskip("cv2")

    embeddings = build([("coffee", photos["coffee"]), ("camera", photos["camera"])], keypoints=True)
    values = images(embeddings)
    evidence = Evidence(values, Rule(values.settings["algorithm"], values.settings["size"], keypoints=True))

    quarter, upright = np.array([[0.0, -1.0, 300.0], [1.0, 0.0, 0.0]]), np.array([[1.0, 0.0, 5.0], [0.0, 1.0, 0.0]])
    assert turned(quarter) and turned(-upright) and not turned(upright)

    assert not evidence.accept(0, 1, Link(None, inliers=TURNED - 1, matrix=quarter))
    assert evidence.accept(0, 1, Link(None, inliers=TURNED, matrix=quarter))
    assert evidence.accept(0, 1, Link(None, inliers=INLIERS, matrix=upright))
    assert evidence.accept(0, 1, Link(evidence.rule.threshold, FLIPPED, inliers=INLIERS, matrix=quarter))
    embeddings.close()
