"""
ImageHash pipeline: bit-for-bit the same hashes as txtai.pipeline.ImageHash, for every source type.
"""

import io
import pathlib

import numpy as np
import pytest

from PIL import Image
from txtai.pipeline import ImageHash as TxtaiImageHash

from txtai_imagehash import ImageError, ImageHash
from txtai_imagehash.hashing.codec import fromhex, tohex

SIZES = {"average": [4, 8, 16], "perceptual": [4, 8, 16], "difference": [4, 8, 16], "wavelet": [4, 8, 16], "color": [3, 8, 12]}


@pytest.mark.parametrize("algorithm", list(SIZES))
def test_same_hashes_as_txtai(algorithm, folder):
    """
    Differential test: every algorithm, several sizes, real photos opened from files, as strings and arrays.
    """

    paths = sorted(str(path) for path in folder.iterdir())
    for size in SIZES[algorithm]:
        expected = TxtaiImageHash(algorithm, size)(paths)
        assert ImageHash(algorithm, size)(paths) == expected

        expected = TxtaiImageHash(algorithm, size, strings=False)(paths)
        actual = ImageHash(algorithm, size, strings=False)(paths)
        for x, y in zip(actual, expected):
            assert x.dtype == y.dtype == np.float32
            np.testing.assert_array_equal(x, y)

    # Hashes differ between images: the comparison above is not between constants
    assert len(set(ImageHash(algorithm)(paths))) > len(paths) // 2


def test_source_types(folder):
    """
    A path, pathlib path, PIL image, bytes and binary file object all hash the same.
    """

    path = folder / "chelsea.jpg"
    expected = TxtaiImageHash("perceptual")(str(path))

    pipeline = ImageHash("perceptual")
    with open(path, "rb") as f:
        sources = [str(path), path, Image.open(path), path.read_bytes(), f]
        assert [pipeline(source) for source in sources] == [expected] * len(sources)


def test_single_and_list(folder):
    """
    A single input gives a single hash, a list gives a list.
    """

    path = str(folder / "coffee.jpg")
    pipeline = ImageHash()
    assert isinstance(pipeline(path), str) and len(pipeline(path)) == 16
    assert pipeline([path]) == [pipeline(path)]
    assert pipeline([]) == []


def test_hex_roundtrip():
    """
    tohex/fromhex match imagehash's encoding, including bit counts that are not a multiple of 4.
    """

    rng = np.random.default_rng(0)
    for nbits in [4, 9, 64, 84, 112, 256]:
        values = rng.integers(0, 2, nbits).astype(bool)
        value = tohex(values)
        assert value == "{:0>{w}x}".format(int("".join("1" if x else "0" for x in values), 2), w=(nbits + 3) // 4)
        np.testing.assert_array_equal(fromhex(value, nbits), values)


def test_errors_name_the_file(tmp_path):
    """
    A file that cannot be read or decoded raises an error naming the file and the reason.
    """

    pipeline = ImageHash()

    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageError, match=r"notes\.jpg: not a recognized image format"):
        pipeline(str(text))

    with pytest.raises(ImageError, match=r"missing\.png: file not found"):
        pipeline(tmp_path / "missing.png")

    # Truncated JPEG: the header is valid, the data stops
    data = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(data, format="JPEG")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data.getvalue()[:200])
    with pytest.raises(ImageError, match=r"truncated\.jpg: cannot decode image"):
        pipeline(str(truncated))

    # In a list, the error names the bad element
    with pytest.raises(ImageError, match="notes.jpg"):
        pipeline([str(truncated.parent / "notes.jpg")])

    with pytest.raises(ValueError, match="Unknown hash algorithm 'md5'"):
        ImageHash("md5")


def test_exif_orientation(tmp_path, photos):
    """
    exif=False hashes the pixels as stored (txtai's behaviour); exif=True applies the orientation tag.
    """

    image = photos["rocket"]
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif, quality=95)

    upright = tmp_path / "upright.jpg"
    image.transpose(Image.Transpose.ROTATE_270).save(upright, quality=95)

    pipeline = ImageHash("difference")
    assert pipeline(str(path)) == TxtaiImageHash("difference")(str(path))
    assert pipeline(str(path)) != pipeline(str(upright))

    oriented = ImageHash("difference", exif=True)(str(path))
    assert bin(int(oriented, 16) ^ int(pipeline(str(upright)), 16)).count("1") <= 4


def test_pathlib_is_supported_where_txtai_is_not(folder):
    """
    txtai's pipeline only opens str paths; this one also opens pathlib paths.
    """

    path = pathlib.Path(folder / "rocket.jpg")
    assert ImageHash()(path) == TxtaiImageHash()(str(path))
