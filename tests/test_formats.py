"""
The formats photos come in (issue 20): AVIF (Pillow's own), HEIC/HEIF, JPEG XL and camera RAW (the formats extra),
multi-frame images, and the same files without the extra. Every file is real: written from scikit-image's photos by
tests/writers.py, and read back through the package's own paths (ImageHash, documents(), dedup(), the walker, the
command line).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from PIL import Image, ImageCms
from txtai import Embeddings

import writers

from helpers import run

from txtai_imagehash import ImageHash, config, dedup, documents, hamming, query
from txtai_imagehash.files import EXTENSIONS, isimage, walk
from txtai_imagehash.formats import AVAILABLE, EXTRA
from txtai_imagehash.hashing.algorithms import threshold
from txtai_imagehash.images import decode, draft
from txtai_imagehash.samples import DEMO

# Photos of every kind: people, animals, objects, text, microscopy
NAMES = ["astronaut", "coffee", "chelsea", "page", "immunohistochemistry"]

# The formats of the extra, skipped when it is not installed (CI installs it)
extra = pytest.mark.skipif(not all(AVAILABLE.values()), reason='needs the formats extra: pip install "txtai-imagehash[formats]"')


@pytest.fixture(scope="module")
def lossless(tmp_path_factory, photos):
    """
    Each photo as PNG and as lossless AVIF, HEIC, JPEG XL and WebP.

    Returns:
        {name: {kind: path}}
    """

    folder = tmp_path_factory.mktemp("lossless")
    kinds = ["png", "avif", "webp"] + (["heic", "jxl"] if all(AVAILABLE.values()) else [])
    return {name: {kind: writers.save(photos[name], folder / f"{name}.{kind}", kind) for kind in kinds} for name in NAMES}


def test_avif_is_native():
    """
    AVIF needs no extra: the required Pillow reads it, and the walker knows its extension.
    """

    # pylint: disable=C0415
    from PIL import features

    assert features.check("avif")
    assert {".avif", ".heic", ".heif", ".jxl", ".dng", ".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2"} <= EXTENSIONS


@pytest.mark.slow
def test_lossless_hashes_like_png(lossless):
    """
    A photo saved as PNG and as lossless AVIF, HEIC, JPEG XL or WebP decodes to the same pixels and hashes
    identically, with every algorithm.
    """

    for name, files in lossless.items():
        reference = np.asarray(decode(files["png"]))
        for kind, path in files.items():
            assert np.array_equal(np.asarray(decode(path).convert("RGB")), reference), (name, kind)
            for algorithm in ("average", "perceptual", "combined"):
                assert ImageHash(algorithm)(path) == ImageHash(algorithm)(files["png"]), (name, kind, algorithm)


@pytest.mark.slow
def test_lossy_within_threshold(tmp_path, photos):
    """
    Quality 80 AVIF, HEIC and JPEG XL land within the default near-duplicate threshold of the PNG, for the default
    and the combined hash.
    """

    kinds = ["avif"] + (["heic", "jxl"] if all(AVAILABLE.values()) else [])
    for name in DEMO:
        png = writers.save(photos[name], tmp_path / f"{name}.png", "png")
        for kind in kinds:
            path = writers.save(photos[name], tmp_path / f"{name}.{kind}", kind, quality=80)
            for algorithm in ("average", "combined"):
                distance = hamming(ImageHash(algorithm)(path), ImageHash(algorithm)(png))
                assert distance <= threshold(algorithm), (name, kind, algorithm, distance)


def test_high_bit_depth(tmp_path, photos):
    """
    10-bit AVIF and HEIC decode to 8-bit RGB, the same pixels as the 8-bit photo they were made from.
    """

    kinds = ["avif"] + (["heic"] if AVAILABLE["HEIF"] else [])
    photo = photos["coffee"]
    for kind in kinds:
        path = writers.deep(photo, tmp_path / f"deep.{kind}", kind)
        image = decode(path, normalize=True)
        assert image.mode == "RGB", kind
        assert np.array_equal(np.asarray(image), np.asarray(photo)), kind
        assert ImageHash()(path) == ImageHash()(photo), kind


def test_orientation(tmp_path, photos):
    """
    A photo stored sideways with orientation 6 hashes like the upright photo with exif=True, in JPEG, AVIF (irot/imir,
    which Pillow reports as the EXIF tag) and HEIC (irot/imir, which libheif applies when decoding, as the HEIF
    standard says: HEIC pixels are upright whatever exif says).
    """

    photo = photos["chelsea"]
    stored = photo.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6

    upright = ImageHash("combined")(photo)
    stored.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=95)
    stored.save(tmp_path / "rotated.avif", exif=exif.tobytes(), quality=95)
    kinds = ["jpg", "avif"]
    if AVAILABLE["HEIF"]:
        stored.save(tmp_path / "rotated.heic", exif=exif.tobytes(), quality=-1, chroma=444, matrix_coefficients=0)
        kinds.append("heic")
        assert ImageHash("combined")(tmp_path / "rotated.heic") == upright

    for kind in kinds:
        assert hamming(ImageHash("combined", exif=True)(tmp_path / f"rotated.{kind}"), upright) <= 6, kind

    # Without exif, JPEG and AVIF hash the pixels as stored
    assert hamming(ImageHash("combined")(tmp_path / "rotated.avif"), upright) > threshold("combined")


def test_icc_profiles_to_srgb(tmp_path, photos):
    """
    normalize=True converts colours with an embedded ICC profile (here Display P3) to sRGB before hashing: the pixels
    come back within a level or two of the sRGB photo; without normalize they are the stored P3 values.
    """

    photo = photos["astronaut"]
    icc = writers.profile()
    wide = writers.toprofile(photo, icc)
    wide.save(tmp_path / "p3.png", icc_profile=icc)
    kinds = ["png"]
    if AVAILABLE["HEIF"]:
        wide.save(tmp_path / "p3.heic", icc_profile=icc, quality=-1, chroma=444, matrix_coefficients=0)
        kinds.append("heic")

    reference = np.asarray(photo, dtype=int)
    for kind in kinds:
        stored = np.abs(np.asarray(decode(tmp_path / f"p3.{kind}").convert("RGB"), dtype=int) - reference).mean()
        converted = np.abs(np.asarray(decode(tmp_path / f"p3.{kind}", normalize=True), dtype=int) - reference).mean()
        assert converted < 1.0 and stored > 3.0, (kind, converted, stored)
        assert ImageHash("combined", normalize=True)(tmp_path / f"p3.{kind}") == ImageHash("combined", normalize=True)(photo), kind

    # An sRGB profile changes nothing
    srgb = tmp_path / "srgb.png"
    photo.save(srgb, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    assert np.array_equal(np.asarray(decode(srgb, normalize=True)), np.asarray(photo))


@pytest.fixture(scope="module")
def animations(tmp_path_factory, photos):
    """
    Three photos as the frames of an animated GIF, WebP and PNG and of a multi-page TIFF, and a still of the third
    frame as JPEG.

    Returns:
        (folder, {kind: path}, still path, frames)
    """

    folder = tmp_path_factory.mktemp("animations")
    frames = [photos[name].resize((300, 200)) for name in ("coffee", "rocket", "chelsea")]
    files = {}
    for kind, options in {"gif": {"duration": 100}, "webp": {"duration": 100, "lossless": True}, "png": {"duration": 100}, "tif": {}}.items():
        files[kind] = folder / f"animation.{kind}"
        frames[0].save(files[kind], save_all=True, append_images=frames[1:], **options)

    still = folder.parent / f"{folder.name}-still.jpg"
    frames[2].save(still, quality=85)
    return folder, files, still, frames


def test_frames(animations):
    """
    frames="first" (default) indexes the first frame, as txtai does; frames="all" indexes each frame as a row of the
    image, id "ID#N", so a still taken from the animation finds its file and frame.
    """

    _, files, still, frames = animations
    paths = [str(path) for path in files.values()]

    first = list(documents(paths))
    assert [uid for uid, _, _ in first] == [0, 1, 2, 3]
    assert all(data["text"] == ImageHash()(frames[0]) for _, data, _ in first)

    rows = list(documents([(path, path) for path in paths], frames="all"))
    assert [uid for uid, _, _ in rows] == [f"{path}{suffix}" for path in paths for suffix in ("", "#1", "#2")]
    for uid, data, _ in rows:
        number = int(uid.rsplit("#", 1)[1]) if "#" in uid else 0
        assert data["frame_number"] == number and data["path"] == uid.split("#")[0]
        assert ("object" in data) == (number == 0)
        assert hamming(data["text"], ImageHash()(frames[number])) <= 2, uid

    embeddings = Embeddings(config())
    embeddings.index(documents([(path, path) for path in paths], frames="all"))
    found = embeddings.search(query(ImageHash()(str(still)), select="id, path", limit=4))
    assert {row["id"] for row in found} == {f"{path}#2" for path in paths}
    assert all(row["distance"] <= threshold("average") for row in found)

    with pytest.raises(ValueError, match="frames"):
        list(documents(paths, frames="every"))


@pytest.mark.slow
def test_frames_command_line(animations, tmp_path):
    """
    `index --algorithm average --frames all` indexes every frame, `search` with the still finds the frame, and a
    second run keeps the frame rows of unchanged files. The robust index (the default) refuses --frames all.
    """

    folder, files, still, _ = animations
    index = tmp_path / "index"
    result = run("index", folder, "--index", tmp_path / "robust", "--frames", "all", "--quiet")
    assert result.returncode == 2 and "--frames all needs a recipe index" in result.stderr, result.stderr

    result = run("index", folder, "--index", index, "--algorithm", "average", "--frames", "all", "--quiet")
    assert result.returncode == 0, result.stderr

    result = run("search", still, "--index", index, "--json", "-k", "4")
    assert result.returncode == 0, result.stderr
    assert {row["id"] for row in json.loads(result.stdout)["results"]} == {f"{path}#2" for path in files.values()}

    result = run("index", folder, "--index", index, "--frames", "all")
    assert result.returncode == 0, result.stderr
    assert "0 added, 0 updated, 0 removed, 4 unchanged" in result.stdout + result.stderr
    results = json.loads(run("search", still, "--index", index, "--json", "-k", "4").stdout)["results"]
    assert {row["id"] for row in results} == {f"{path}#2" for path in files.values()}


@extra
def test_raw(tmp_path, photos):
    """
    Camera RAW (DNG written from a photo's Bayer mosaic): with an embedded preview the preview JPEG is hashed (the
    camera's own rendering: identical to its camera JPEG), without one the demosaiced image; either way the RAW file
    and the camera JPEG land in one dedup group, for every photo. Fast mode decodes the preview in draft mode and the
    raw data at half size.
    """

    folder = tmp_path / "camera"
    folder.mkdir()
    for name in NAMES:
        photo = photos[name]
        (folder / f"{name}.jpg").write_bytes(writers.camera(photo))
        writers.dng(photo, folder / f"{name}.dng")
        writers.dng(photo, folder / f"{name}-raw-only.dng", preview=False)

        with Image.open(folder / f"{name}.dng") as image:
            assert (image.format, image.info["raw"], image.size) == ("RAW", "preview", photo.size)
        with Image.open(folder / f"{name}-raw-only.dng") as image:
            assert (image.format, image.info["raw"], image.size) == ("RAW", "demosaic", photo.size)

        assert ImageHash("combined")(folder / f"{name}.dng") == ImageHash("combined")(folder / f"{name}.jpg")

        # Fast: the preview in draft mode
        assert draft(folder / f"{name}.dng").size == draft(folder / f"{name}.jpg").size

    # Fast: the raw data at half size, when that keeps DRAFT pixels on the short side
    large = photos["coffee"].resize((1200, 800))
    writers.dng(large, tmp_path / "large.dng", preview=False)
    assert draft(tmp_path / "large.dng").size == (600, 400)
    assert draft(folder / "coffee-raw-only.dng") is None

    for fast in (False, True):
        groups = dedup(str(folder), fast=fast)
        files = sorted(sorted(os.path.basename(image["path"]) for image in group["images"]) for group in groups)
        assert files == sorted(sorted([f"{name}.dng", f"{name}-raw-only.dng", f"{name}.jpg"]) for name in NAMES), (fast, files)


@pytest.mark.slow
@extra
def test_heic_thumbnail_in_fast_mode(tmp_path, photos):
    """
    Fast mode decodes a HEIC file's embedded thumbnail when it has one of THUMBNAIL pixels a side or more, and the
    hash stays within a few bits of the exact one.
    """

    for name in NAMES:
        photo = photos[name].resize((photos[name].width * 2, photos[name].height * 2))
        photo.save(tmp_path / f"{name}.heic", quality=90, thumbnails=[512], enc_params={"preset": "ultrafast"})
        photo.save(tmp_path / f"{name}-bare.heic", quality=90, thumbnails=[], enc_params={"preset": "ultrafast"})

        image = draft(tmp_path / f"{name}.heic")
        assert max(image.size) == 512, image.size
        assert draft(tmp_path / f"{name}-bare.heic") is None

        exact = ImageHash("combined")(tmp_path / f"{name}.heic")
        assert hamming(ImageHash("combined")(image), exact) <= 8, name


def test_walker_finds_every_format(tmp_path, photos):
    """
    The walker's image check knows the extensions of every format and recognizes extension-less files by their
    header, with or without the extra.
    """

    photo = photos["coffee"]
    writers.save(photo, tmp_path / "photo.avif", "avif", quality=80)
    writers.save(photo, tmp_path / "avif-without-extension", "avif", quality=80)
    kinds = ["avif"]
    if all(AVAILABLE.values()):
        for kind in ("heic", "jxl"):
            writers.save(photo, tmp_path / f"photo.{kind}", kind, quality=80)
            writers.save(photo, tmp_path / f"{kind}-without-extension", kind, quality=80)
        writers.dng(photo, tmp_path / "photo.dng")
        writers.dng(photo, tmp_path / "dng-without-extension")
        kinds += ["heic", "jxl", "dng"]

    (tmp_path / "notes.txt").write_text("not an image")
    found = {os.path.basename(file.path): isimage(file.path) for file in walk(tmp_path)}
    assert found.pop("notes.txt") is None
    assert found == {**{f"photo.{kind}": "extension" for kind in kinds}, **{f"{kind}-without-extension": "header" for kind in kinds}}

    # Extension-less files are hashed from their header, RAW too
    for kind in kinds:
        assert hamming(ImageHash()(tmp_path / f"{kind}-without-extension"), ImageHash()(photo)) <= threshold(), kind


@pytest.mark.slow
def test_without_the_extra(tmp_path, photos):
    """
    Without the extra's openers (blocked in a child process), HEIC, JPEG XL and DNG files get a clear per-file error
    that names the extra, by extension and by header, and the run goes on; AVIF still works, natively.
    """

    photo = photos["coffee"]
    writers.save(photo, tmp_path / "photo.png", "png")
    writers.save(photo, tmp_path / "photo.avif", "avif", quality=80)
    (tmp_path / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    (tmp_path / "photo.jxl").write_bytes(b"\xff\x0a" + b"\x00" * 64)
    (tmp_path / "heic-without-extension").write_bytes((tmp_path / "photo.heic").read_bytes())
    if AVAILABLE["RAW"]:
        writers.dng(photo, tmp_path / "photo.dng")
        writers.dng(photo, tmp_path / "dng-without-extension", preview=False)
        if AVAILABLE["HEIF"]:
            writers.save(photo, tmp_path / "photo.heic", "heic", quality=80)
            writers.save(photo, tmp_path / "heic-without-extension", "heic", quality=80)
        if AVAILABLE["JXL"]:
            writers.save(photo, tmp_path / "photo.jxl", "jxl", quality=80)

    script = f"""
import json, sys
for module in ("pillow_heif", "pillow_jxl", "rawpy"):
    sys.modules[module] = None
from txtai_imagehash import ImageError, ImageHash, documents
from txtai_imagehash.files import isimage, walk
from txtai_imagehash.formats import AVAILABLE
errors = []
paths = [file.path for file in walk({str(tmp_path)!r}) if isimage(file.path)]
rows = [uid for uid, _, _ in documents([(path, path) for path in paths], errors=errors)]
try:
    ImageHash()({str(tmp_path / "photo.heic")!r})
    single = None
except ImageError as error:
    single = str(error)
print(json.dumps({{"available": AVAILABLE, "rows": rows, "errors": {{e.source: e.reason for e in errors}}, "single": single}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)

    assert output["available"] == {"HEIF": False, "JXL": False, "RAW": False}
    assert sorted(os.path.basename(uid) for uid in output["rows"]) == ["photo.avif", "photo.png"]

    expected = {"photo.heic": "HEIC/HEIF files need pillow-heif", "heic-without-extension": "HEIC/HEIF files need pillow-heif", "photo.jxl": "JPEG XL files need pillow-jxl-plugin"}
    if AVAILABLE["RAW"]:
        expected.update({"photo.dng": "camera RAW files need rawpy", "dng-without-extension": "camera RAW files need rawpy"})
    assert {os.path.basename(source): reason for source, reason in output["errors"].items()} == {name: f"{reason}: {EXTRA}" for name, reason in expected.items()}
    assert output["single"] == f"{tmp_path / 'photo.heic'}: HEIC/HEIF files need pillow-heif: {EXTRA}"
