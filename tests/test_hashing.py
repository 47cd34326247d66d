"""
Tests for batched, parallel and fast hashing.
"""

import io

import pytest

from PIL import Image
from txtai import Embeddings
from txtai.pipeline import ImageHash as TxtaiImageHash

from txtai_imagehash import ImageError, ImageHash, config, documents, hamming, hashes
from txtai_imagehash.images import draft


@pytest.fixture(scope="module")
def files(folder):
    return sorted(str(path) for path in folder.iterdir())


@pytest.fixture(scope="module")
def large(tmp_path_factory, photos):
    """
    Camera-sized JPEGs (about 4-6 megapixels) made from the photos.
    """

    path = tmp_path_factory.mktemp("large")
    output = []
    for name in ("astronaut", "coffee", "chelsea", "rocket"):
        image = photos[name]
        scale = 2400 / image.width
        image = image.resize((2400, round(image.height * scale)), Image.BICUBIC)
        output.append(str(path / f"{name}.jpg"))
        image.save(output[-1], quality=90)

    return output


@pytest.mark.parametrize("workers", [1, 2])
def test_exact_matches_txtai(files, workers):
    expected = TxtaiImageHash()(files)
    results = list(hashes(files, workers=workers, batch=3))

    # Input order, sources as ids, and txtai's hashes bit for bit
    assert [source for source, _ in results] == files
    assert [value for _, value in results] == expected


@pytest.mark.parametrize("algorithm", ["perceptual", "difference"])
def test_exact_other_algorithms(files, algorithm):
    expected = TxtaiImageHash(algorithm=algorithm)(files)
    assert [value for _, value in hashes(files, workers=2, pipeline=ImageHash(algorithm=algorithm))] == expected


def test_mixed_sources_and_errors(files, tmp_path, photos):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    with open(files[0], "rb") as f:
        data = f.read()

    sources = [
        ("path", files[0]),
        ("missing", str(tmp_path / "missing.png")),
        ("bytes", data),
        ("file", io.BytesIO(data)),
        ("broken", str(broken)),
        ("pil", photos["coins"]),
    ]
    for workers in (1, 2):
        results = dict(hashes(list(sources), workers=workers, batch=2))
        assert list(results) == [uid for uid, _ in sources]

        expected = ImageHash()(files[0])
        assert results["path"] == results["bytes"] == results["file"] == expected
        assert results["pil"] == TxtaiImageHash()(photos["coins"])

        # One broken image never aborts the batch: errors name the file and the reason
        assert isinstance(results["missing"], ImageError) and "missing.png" in str(results["missing"])
        assert "not found" in results["missing"].reason
        assert isinstance(results["broken"], ImageError) and str(broken) in str(results["broken"])

        sources[3] = ("file", io.BytesIO(data))


def test_streaming_is_bounded(files):
    consumed = []

    def generate():
        for x in range(1000):
            consumed.append(x)
            yield (x, files[x % len(files)])

    stream = hashes(generate(), workers=2, batch=4)
    first = next(stream)
    assert first[0] == 0

    # Only a few batches are read ahead: 2 x workers batches in flight plus the one being built
    assert len(consumed) <= 4 * 4 + 4
    stream.close()


def test_fast_mode(large, files):
    exact = [value for _, value in hashes(large)]
    fast = [value for _, value in hashes(large, fast=True, workers=2)]

    # Draft decoding is really used on large JPEGs, and the hash stays within a few bits
    image = draft(large[0], grey=True)
    assert image.mode == "L" and 256 <= min(image.size) < 1200
    for a, b in zip(exact, fast):
        assert hamming(a, b) <= 4

    # Other formats (PNG) are hashed exactly in fast mode
    png = [x for x in files if x.endswith(".png")]
    assert [v for _, v in hashes(png, fast=True)] == TxtaiImageHash()(png)
    assert draft(png[0], grey=True) is None


def test_progress(files, capsys):
    list(hashes(files, progress=True))
    assert "Hashing" in capsys.readouterr().err


def test_documents_parallel(files, tmp_path):
    broken = tmp_path / "broken.gif"
    broken.write_bytes(b"GIF89a broken")
    inputs = files + [str(broken)]

    errors = []
    parallel = list(documents(inputs, errors=errors, workers=2))
    sequential = list(documents(files))

    assert len(errors) == 1 and "broken.gif" in str(errors[0])
    assert [(uid, data["text"], data["path"]) for uid, data, _ in parallel] == [(uid, data["text"], data["path"]) for uid, data, _ in sequential]

    # Stored objects are the original file bytes in both modes
    a, b = Embeddings(config()), Embeddings(config())
    a.index(parallel)
    b.index(sequential)
    query = "select id, object from txtai order by id"
    for x, y in zip(a.search(query, 100), b.search(query, 100)):
        assert x["object"].fp.getvalue() == y["object"].fp.getvalue() == open(files[int(x["id"])], "rb").read()

    a.close()
    b.close()
