"""
Bad and unusual inputs: each raises (single input) or is reported (batch, folder) with the file and the reason,
and batch and folder runs go on with the rest.
"""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from PIL import Image
from txtai import Embeddings
from txtai.pipeline import ImageHash as TxtaiImageHash

from txtai_imagehash import ImageError, ImageHash, config, documents, hamming, query
from txtai_imagehash.files import walk

from helpers import png


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, photos):
    """
    Broken files and unusual but valid images, generated from real photos.
    """

    path = tmp_path_factory.mktemp("corpus")
    photo = photos["coffee"]
    bad, good = {}, {}

    data = io.BytesIO()
    photo.save(data, format="JPEG", quality=90)
    (path / "truncated.jpg").write_bytes(data.getvalue()[: len(data.getvalue()) // 3])
    bad["truncated.jpg"] = "cannot decode image"

    (path / "empty.jpg").write_bytes(b"")
    bad["empty.jpg"] = "empty file"

    (path / "notes.jpg").write_text("shopping list: eggs, milk\n")
    bad["notes.jpg"] = "not a recognized image format"

    (path / "drawing.jpg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>')
    bad["drawing.jpg"] = "not a recognized image format"

    # 196 megapixels in a 200 KB file: over twice Pillow's limit
    png(path / "bomb.png", 14000, 14000)
    bad["bomb.png"] = "too many pixels"

    # 100 megapixels: over Pillow's limit, under twice: Pillow only warns, this package refuses
    png(path / "huge.png", 10000, 10000)
    bad["huge.png"] = "too many pixels"

    (path / "folder.jpg").mkdir()
    bad["folder.jpg"] = "is a directory"

    # Valid unusual images
    photo.convert("CMYK").save(path / "cmyk.jpg", quality=95)
    good["cmyk.jpg"] = photo

    grey = np.asarray(photo.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(path / "grey16.png")
    good["grey16.png"] = photo.convert("L")

    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    palette.info["transparency"] = 0
    palette.save(path / "palette.png", transparency=0)
    good["palette.png"] = None

    rgba = photo.convert("RGBA")
    alpha = np.zeros(photo.size[::-1], dtype=np.uint8)
    alpha[50:350, 100:500] = 255
    rgba.putalpha(Image.fromarray(alpha))
    rgba.save(path / "transparent.png")
    good["transparent.png"] = None

    frames = [photo, photos["rocket"].resize(photo.size)]
    frames[0].save(path / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    good["animated.gif"] = None

    # Stored sideways with the tag that turns it upright (orientation 8: rotate 90 degrees counter-clockwise)
    exif = Image.Exif()
    exif[0x0112] = 8
    photo.transpose(Image.Transpose.ROTATE_270).save(path / "rotated.jpg", exif=exif, quality=95)
    good["rotated.jpg"] = photo

    photo.save(path / "café ☕ photo.jpg", quality=90)
    good["café ☕ photo.jpg"] = photo

    # 30 megapixels, valid
    Image.fromarray(np.asarray(photo.resize((6000, 5000)))).save(path / "large.jpg", quality=80)
    good["large.jpg"] = photo

    return path, bad, good


def test_single_inputs_raise_with_file_and_reason(corpus):
    """
    Every broken file raises an ImageError naming it and saying why.
    """

    path, bad, _ = corpus
    pipeline = ImageHash()
    for name, reason in bad.items():
        with pytest.raises(ImageError) as error:
            pipeline(str(path / name))

        assert str(error.value).startswith(str(path / name) + ": "), str(error.value)
        assert reason in error.value.reason, (name, error.value.reason)


def test_valid_unusual_images_hash_like_txtai(corpus):
    """
    Valid unusual images hash without error, bit-identical to txtai by default.
    """

    path, _, good = corpus
    for name in good:
        value = ImageHash()(str(path / name))
        assert value == TxtaiImageHash()(str(path / name)), name


def test_batch_and_folder_go_on(corpus):
    """
    documents() over the whole corpus, and over a folder walk, indexes every valid image and reports each bad one.
    """

    path, bad, good = corpus
    files = sorted(str(path / name) for name in [*bad, *good])

    errors = []
    embeddings = Embeddings(config())
    embeddings.index(documents(files, errors=errors))

    assert embeddings.count() == len(good)
    assert sorted(os.path.basename(error.source) for error in errors) == sorted(bad)

    # Folder walk: the directory named folder.jpg is not a file, so it is not listed at all
    errors = []
    rows = list(documents([file.path for file in walk(path)], errors=errors))
    assert len(rows) == len(good)
    assert sorted(os.path.basename(error.source) for error in errors) == sorted(set(bad) - {"folder.jpg"})


def test_unicode_paths_round_trip_through_sql(corpus):
    """
    Paths with unicode and spaces are stored and returned exactly; they never enter SQL text.
    """

    path, _, _ = corpus
    name = str(path / "café ☕ photo.jpg")
    embeddings = Embeddings(config())
    embeddings.index(documents([name]))

    row = embeddings.search(query(ImageHash()(name), select="id, path", limit=1))[0]
    assert row["path"] == name and row["distance"] == 0


def test_normalized_mode(corpus):
    """
    normalize=True: transparency composited on white, 16-bit grey scaled to 8 bits, CMYK as RGB;
    exif=True applies orientation. The normalized hash matches the plain photo's hash closely.
    """

    path, _, good = corpus
    pipeline = ImageHash("difference", exif=True, normalize=True)

    for name in ["cmyk.jpg", "grey16.png", "rotated.jpg"]:
        assert hamming(pipeline(str(path / name)), pipeline(good[name])) <= 4, name

    # 16-bit grey: txtai's conversion clips every value above 255 to white, the normalized one does not
    values = np.asarray(Image.open(path / "grey16.png"))
    assert values.max() > 255
    assert ImageHash("average", normalize=True)(str(path / "grey16.png")) == ImageHash("average")(good["grey16.png"])

    # Transparency: the same as compositing on white by hand
    image = Image.open(path / "transparent.png")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    expected = ImageHash("difference")(Image.alpha_composite(white, image).convert("RGB"))
    assert pipeline(str(path / "transparent.png")) == expected
    assert ImageHash("difference")(str(path / "transparent.png")) != expected

    # Animated GIF: the first frame
    with Image.open(path / "animated.gif") as gif:
        first = gif.convert("RGB")
    assert pipeline(str(path / "animated.gif")) == pipeline(first)


@pytest.mark.slow
def test_unreadable_file(tmp_path, photos):
    """
    A file without read permission: a clear error, and a batch goes on. Runs in a process without the
    capabilities that let root read anything.
    """

    photos["chelsea"].save(tmp_path / "locked.jpg")
    photos["coffee"].save(tmp_path / "open.jpg")
    os.chmod(tmp_path / "locked.jpg", 0)

    script = (
        "import sys; from txtai_imagehash import ImageHash, ImageError, documents\n"
        "errors = []\n"
        "rows = list(documents(sys.argv[1:], errors=errors))\n"
        "print(len(rows), errors[0] if errors else '')\n"
        "try:\n    ImageHash()(sys.argv[1])\nexcept ImageError as e:\n    print(e)\n"
    )
    command = [sys.executable, "-c", script, str(tmp_path / "locked.jpg"), str(tmp_path / "open.jpg")]
    if os.geteuid() == 0:
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] + command

    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
    lines = result.stdout.strip().splitlines()
    assert lines[0] == f"1 {tmp_path / 'locked.jpg'}: permission denied"
    assert lines[1] == f"{tmp_path / 'locked.jpg'}: permission denied"


def test_symlink_loop(tmp_path, photos):
    """
    A folder with a symlink loop is walked once, and every image in it is found.
    """

    (tmp_path / "a" / "b").mkdir(parents=True)
    photos["rocket"].save(tmp_path / "a" / "b" / "rocket.jpg")
    photos["coffee"].save(tmp_path / "a" / "coffee.jpg")
    os.symlink(tmp_path / "a", tmp_path / "a" / "b" / "loop")

    files = [os.path.relpath(file.path, os.path.realpath(tmp_path)) for file in walk(tmp_path)]
    assert sorted(files) == ["a/b/rocket.jpg", "a/coffee.jpg"]


@pytest.mark.slow
def test_memory_stays_bounded(corpus):
    """
    Peak memory while hashing the bomb (refused from its header) and then a 30-megapixel photo (decoded once).
    """

    path, _, _ = corpus
    script = (
        "import resource, sys; from txtai_imagehash import ImageHash, ImageError\n"
        "for path in sys.argv[1:]:\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "    try:\n        ImageHash()(path)\n    except ImageError:\n        pass\n"
        "    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    command = [sys.executable, "-c", script, str(path / "bomb.png"), str(path / "large.jpg")]
    bomb, large = map(int, subprocess.run(command, capture_output=True, text=True, timeout=180, check=True).stdout.split())

    # bomb: nothing decoded; large: RGB pixels (90 MB) plus the grey copy imagehash makes
    assert bomb < 20, bomb
    assert large < 300, large
