"""
Tests for the binary hash vector index: HashVectors, vectorconfig, todistance.
"""

import io

import faiss
import numpy as np
import pytest

from PIL import Image
from txtai import Embeddings

from txtai_imagehash import ImageError, ImageHash, config, documents, hamming, query, todistance, vectorconfig
from txtai_imagehash.ann import HammingIndex
from txtai_imagehash.hashing.codec import unpack as decode
from txtai_imagehash.vectors import HashVectors

from txtai_imagehash.samples import middle as crop


@pytest.fixture(scope="module")
def files(folder):
    """
    Image files of the collection, sorted by name.
    """

    return sorted(str(path) for path in folder.iterdir())


@pytest.fixture(scope="module", params=["faiss", "hamming"])
def embeddings(request, files):
    """
    Index of the collection with a binary Hamming vector index: faiss BFlat, and the multi-index hashing index.
    """

    embeddings = Embeddings(config(vectors={"backend": request.param}))
    embeddings.index(documents(files))
    yield embeddings
    embeddings.close()


def codes(embeddings):
    """
    Reads the binary codes stored in a flat faiss index, in index order.
    """

    if isinstance(embeddings.ann, HammingIndex):
        return embeddings.ann.backend

    flat = faiss.downcast_IndexBinary(embeddings.ann.backend.index)
    return faiss.vector_to_array(flat.xb).reshape(flat.ntotal, flat.code_size)


def attacks(image):
    """
    Modified copies of an image: middle crop, downscale, JPEG re-encode.
    """

    output = io.BytesIO()
    image.save(output, format="JPEG", quality=40)
    return {"crop": crop(image), "small": image.resize((image.width // 3, image.height // 3)), "jpeg": output.getvalue()}


def test_codes_are_hash_bits(embeddings, files):
    rows = embeddings.search("select indexid, text from txtai order by indexid", len(files))
    assert len(rows) == len(files)

    stored = codes(embeddings)
    assert stored.shape == (len(files), 8)

    # Every stored code is exactly the row's 64-bit hash; 0/1 vectors would quantize to all ones
    for row in rows:
        assert stored[row["indexid"]].tobytes() == bytes.fromhex(row["text"])
    assert len({code.tobytes() for code in stored}) == len(files)

    # The configuration is an exact index: faiss BFlat, even though txtai defaults to BIVF for large indexes
    if embeddings.config["backend"] == "faiss":
        assert embeddings.config["faiss"]["components"] == "BFlat"
    assert embeddings.config["dimensions"] == 8


def test_vectors_are_signed_bits(photos):
    model = HashVectors(vectorconfig(), None, None)
    image = photos["coffee"]
    value = ImageHash()(image)

    vectors = model.encode([image, value, value.upper()])
    bits = decode([value], 64)[0]

    assert set(np.unique(vectors)) == {-1.0, 1.0}
    assert (vectors == np.where(bits, 1.0, -1.0)).all()

    # With quantize 1, vectorize packs the bits exactly as the hex hash
    packed = model.vectorize([image])
    assert packed.dtype == np.uint8 and packed[0].tobytes() == bytes.fromhex(value)


def test_decode_odd_sizes():
    # 36-bit hashes have 9 hex digits: leading pad bits are dropped
    values = ["abcdef123", "000000001"]
    bits = decode(values, 36)
    assert bits.shape == (2, 36)
    for value, row in zip(values, bits):
        assert int("".join("1" if x else "0" for x in row), 2) == int(value, 16)


@pytest.mark.parametrize("name", ["coffee", "astronaut", "chelsea", "rocket", "camera"])
def test_vector_and_sql_agree(embeddings, photos, name):
    pipeline = ImageHash()

    for attack, image in attacks(photos[name]).items():
        value = pipeline(image)

        # SQL path: hamming() scan, nearest first
        sql = embeddings.search(query(value, "id, path", metric="hamming", limit=3), 3)

        # Vector path: image query through the binary index
        vector = embeddings.search(image, 3)

        assert vector, attack
        best = todistance(vector[0]["score"], embeddings)
        assert best == sql[0]["hamming"], attack

        # Same nearest image (or a tie at the same distance)
        ties = {row["id"] for row in sql if row["hamming"] == best}
        assert vector[0]["id"] in ties, attack

        # Scores convert back to the Hamming distance of the stored hash
        for row in vector:
            assert todistance(row["score"], embeddings) == hamming(row["text"], value)

        # The photo itself is found
        if attack != "crop":
            assert vector[0]["id"] == sql[0]["id"] and name in sql[0]["path"], attack


def test_query_by_path_and_hash(embeddings, files):
    path = next(x for x in files if "chelsea" in x)
    value = ImageHash()(path)

    for q in (path, value, open(path, "rb").read(), Image.open(path)):
        result = embeddings.search(q, 1)
        assert result[0]["text"] == value and result[0]["score"] == 1.0


def test_similar_with_filters(embeddings, files, photos):
    image = photos["coffee"]
    value = ImageHash()(image)

    # Vector search of an image object bound as a parameter, combined with SQL filters and hamming()
    sql = (
        f"select id, path, hamming(text, '{value}') bits, score from txtai "
        "where similar(:image, 20) and path not like '%coffee%' and path like '%.jpg' order by score desc"
    )
    rows = embeddings.search(sql, 5, parameters={"image": image})

    assert len(rows) == 5
    assert all("coffee" not in row["path"] and row["path"].endswith(".jpg") for row in rows)
    assert all(row["bits"] == todistance(row["score"], embeddings) for row in rows)
    assert [row["bits"] for row in rows] == sorted(row["bits"] for row in rows)

    # Without the filter, the coffee photo is first
    assert "coffee" in embeddings.search("select path from txtai where similar(:image)", 1, parameters={"image": image})[0]["path"]


def test_save_load(embeddings, tmp_path, photos):
    embeddings.save(str(tmp_path / "index"))

    loaded = Embeddings()
    loaded.load(str(tmp_path / "index"))

    assert loaded.config["method"] == "txtai_imagehash.vectors.HashVectors"
    assert loaded.config["backend"] == embeddings.config["backend"]
    for name in ("coffee", "rocket"):
        image = photos[name].resize((200, 150))
        assert loaded.search(image, 3) == embeddings.search(image, 3)

    # Upsert after load keeps the index a Hamming index
    extra = photos["horse"].rotate(180)
    loaded.upsert(documents([("rotated", extra)]))
    assert loaded.search(extra, 1)[0]["id"] == "rotated"
    loaded.close()


@pytest.mark.parametrize("backend", ["faiss", "hamming"])
def test_exact_above_bivf_threshold(backend):
    # txtai builds an approximate BIVF index above 5,000 rows: vectorconfig keeps it exact
    rng = np.random.default_rng(7)
    values = rng.integers(0, 256, size=(6000, 8), dtype=np.uint8)
    hashes = [row.tobytes().hex() for row in values]

    embeddings = Embeddings(config(vectors={"backend": backend}))
    embeddings.index((x, {"text": value}, None) for x, value in enumerate(hashes))

    popcount = np.unpackbits(values, axis=1)
    for x in range(0, 6000, 600):
        query = popcount[x].copy()
        query[rng.choice(64, 5, replace=False)] ^= 1
        exact = np.count_nonzero(popcount != query, axis=1)

        result = embeddings.search(np.packbits(query).tobytes().hex(), 3)
        assert [todistance(row["score"], embeddings) for row in result] == sorted(exact)[:3]
        assert int(result[0]["id"]) == int(np.argmin(exact))

    assert "BIVF" not in str(embeddings.config["build"]["settings"])
    embeddings.close()


def test_approximate_config():
    configuration = vectorconfig(approximate="auto", count=20_000_000)
    assert configuration["faiss"]["components"] == "BIVF1024" and configuration["faiss"]["nprobe"] == 64
    assert vectorconfig(approximate="auto", count=1000)["faiss"]["components"] == "BFlat"
    assert config(vectors={"algorithm": "difference"})["vectors"]["algorithm"] == "difference"
    assert "defaults" not in config(vectors=True)


def test_bad_query_names_file(embeddings, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")

    with pytest.raises(ImageError, match="broken.jpg"):
        embeddings.search(str(broken), 1)

    with pytest.raises(ValueError, match="16 digits"):
        embeddings.search("abcd", 1)

    with pytest.raises(ValueError, match="Unknown HashVectors options"):
        HashVectors({"vectors": {"bits": 8}}, None, None)


@pytest.mark.parametrize("nbytes", [8, 3])
def test_hamming_index_exact(nbytes):
    # Multi-index hashing gives the exact k nearest, with deletes, near and far queries, odd code sizes
    rng = np.random.default_rng(nbytes)
    codes = rng.integers(0, 256, size=(20000, nbytes), dtype=np.uint8)
    codes[:50] = codes[50]
    codes[100] = 0

    index = HammingIndex({"quantize": 1, "dimensions": nbytes, "backend": "hamming"})
    index.index(codes)
    index.delete([3, 7, 50])
    assert index.count() == 20000 - 3

    bits = np.unpackbits(codes, axis=1)
    live = np.ones(len(codes), dtype=bool)
    live[[3, 7, 50]] = False
    for x in list(range(0, 20000, 2999)) + [100]:
        for flips, limit in ((0, 1), (2, 3), (5, 10), (20, 5)):
            query = bits[x].copy()
            query[rng.choice(nbytes * 8, min(flips, nbytes * 8), replace=False)] ^= 1
            exact = np.where(live, np.count_nonzero(bits != query, axis=1), 10**6)

            result = index.search(np.packbits(query)[None], limit)[0]
            distances = [round((1 - score) * nbytes * 8) for _, score in result]
            assert distances == sorted(exact)[:limit]
            assert all(live[uid] and exact[uid] == d for (uid, _), d in zip(result, distances))

    # An all-zero code is a valid hash, not a deleted row
    assert index.search(np.zeros((1, nbytes), dtype=np.uint8), 1)[0][0] == (100, 1.0)


@pytest.mark.parametrize("nbytes", [24, 8])
def test_hamming_index_bounded(nbytes):
    # A search bounded by a distance returns exactly the rows within it (at most limit), near and far queries, bounds
    # within the buckets' reach and beyond it (full scan)
    rng = np.random.default_rng(nbytes)
    codes = rng.integers(0, 256, size=(20000, nbytes), dtype=np.uint8)
    bits = np.unpackbits(codes, axis=1)

    # Neighbours of row 0 at 1 to 40 bits
    for x in range(1, 41):
        near = bits[0].copy()
        near[rng.choice(nbytes * 8, x, replace=False)] ^= 1
        bits[x] = near
    codes = np.packbits(bits, axis=1)

    index = HammingIndex({"quantize": 1, "dimensions": nbytes, "backend": "hamming"})
    index.index(codes)
    index.delete([5])

    live = np.ones(len(codes), dtype=bool)
    live[5] = False
    for query in [bits[0], bits[17], rng.integers(0, 2, nbytes * 8).astype(np.uint8)]:
        exact = np.where(live, np.count_nonzero(bits != query, axis=1), 10**6)
        for bound, limit in ((0, 5), (12, 50), (17, 50), (36, 50), (36, 3), (60, 10)):
            result = index.search(np.packbits(query)[None], limit, [bound])[0]
            distances = [round((1 - score) * nbytes * 8) for _, score in result]
            assert distances == sorted(exact[exact <= bound])[:limit]
            assert all(exact[uid] == d for (uid, _), d in zip(result, distances))

    # A negative bound (a penalty above the threshold) returns nothing
    assert index.search(codes[:1], 5, -1) == [[]]


def test_approximate_index_finds_near_duplicates():
    rng = np.random.default_rng(11)
    values = rng.integers(0, 256, size=(8000, 8), dtype=np.uint8)

    embeddings = Embeddings(config(vectors={"approximate": True, "count": len(values)}))
    embeddings.index((x, {"text": row.tobytes().hex()}, None) for x, row in enumerate(values))
    assert embeddings.config["build"]["settings"]["components"].startswith("BIVF")

    bits = np.unpackbits(values, axis=1)
    found = 0
    for x in rng.choice(len(values), 20, replace=False):
        query = bits[x].copy()
        query[rng.choice(64, 2, replace=False)] ^= 1
        result = embeddings.search(np.packbits(query).tobytes().hex(), 1)
        found += bool(result) and int(result[0]["id"]) == x

    # Approximate: recall is measured in benchmarks/scale.py; near duplicates are found here
    assert found >= 18
    embeddings.close()
