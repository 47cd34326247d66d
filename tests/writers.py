"""
Writers of real image files in every format the package reads, made from photos: lossless and lossy AVIF, HEIC and
JPEG XL, 10-bit AVIF and HEIC, and camera RAW as DNG (a Bayer mosaic of the photo, with or without the camera's
preview JPEG), readable by LibRaw. Used by tests/test_formats.py and benchmarks/formats.py.

Needs the test extra (imagecodecs, tifffile) and, for HEIC and JPEG XL, the formats extra.
"""

import io
import struct

import numpy as np

from PIL import Image, ImageCms

# D65 XYZ -> linear sRGB: the DNG colour matrix that makes the camera's colour space linear sRGB
XYZSRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)

# White level of the 12-bit DNG mosaics
WHITE = 4095

# Display P3 primaries adapted to D50 (ICC colorants), for an ICC profile that is not sRGB
P3 = ((0.515102, 0.241182, -0.001050), (0.291965, 0.692236, 0.041882), (0.157153, 0.066582, 0.784378))


def save(image, path, kind, quality=None):
    """
    Saves an image in a format: lossless when quality is None, else lossy at that quality.

    Args:
        image: RGB PIL image
        path: output path
        kind: "png", "avif", "heic", "jxl", "webp" or "jpeg"
        quality: lossy quality, None for lossless

    Returns:
        path
    """

    if kind == "avif" and quality is None:
        # Pillow's AVIF encoder has no lossless mode (no identity matrix): imagecodecs' libavif has
        # pylint: disable=C0415
        import imagecodecs

        with open(path, "wb") as f:
            f.write(imagecodecs.avif_encode(np.asarray(image), level=100, speed=10))
        return path

    # The encoders' fast settings: files for tests and benchmarks, not for keeping
    options = {
        "png": {},
        "avif": {"quality": quality, "speed": 8},
        "heic": {"quality": quality or -1, "enc_params": {"preset": "ultrafast"}, **({} if quality else {"chroma": 444, "matrix_coefficients": 0})},
        "jxl": {"quality": quality, "effort": 3} if quality else {"lossless": True, "effort": 1},
        "webp": {"quality": quality} if quality else {"lossless": True},
        "jpeg": {"quality": quality or 95},
    }[kind]
    image.save(path, format={"heic": "HEIF", "jpeg": "JPEG"}.get(kind, kind.upper()), **options)
    return path


def deep(image, path, kind):
    """
    Saves an image as a lossless 10-bit AVIF or HEIC file (8-bit values times 4, plus 1 in the low bits).

    Args:
        image: RGB PIL image
        path: output path
        kind: "avif" or "heic"

    Returns:
        path
    """

    # pylint: disable=C0415
    pixels = np.asarray(image, dtype=np.uint16)
    if kind == "avif":
        import imagecodecs

        with open(path, "wb") as f:
            f.write(imagecodecs.avif_encode(pixels * 4 + 1, level=100, speed=10, bitspersample=10))
    else:
        import pillow_heif

        heif = pillow_heif.from_bytes(mode="RGB;16", size=image.size, data=(pixels * 257).tobytes())
        heif.save(path, quality=-1, chroma=444, matrix_coefficients=0, enc_params={"preset": "ultrafast"})

    return path


def dng(image, path, preview=True, quality=90):
    """
    Writes a DNG camera RAW file of a photo: a 12-bit RGGB Bayer mosaic of its linear values in a sub-IFD, with a
    colour matrix that makes the camera's colour space linear sRGB. With preview, IFD 0 holds the camera's preview:
    the same bytes as camera(image, quality), the JPEG a camera writes beside its RAW file.

    Args:
        image: RGB PIL image
        path: output path
        preview: embed the preview JPEG
        quality: JPEG quality of the preview

    Returns:
        path
    """

    # pylint: disable=C0415
    import tifffile

    width, height = image.size
    values = np.asarray(image, dtype=np.float64) / 255
    linear = np.where(values <= 0.04045, values / 12.92, ((values + 0.055) / 1.055) ** 2.4)

    mosaic = np.empty((height, width), dtype=np.uint16)
    for (y, x), channel in zip(((0, 0), (0, 1), (1, 0), (1, 1)), (0, 1, 1, 2)):
        mosaic[y::2, x::2] = np.round(linear[y::2, x::2, channel] * WHITE)

    def rationals(numbers):
        return [value for number in numbers for value in (round(number * 10000), 10000)]

    # DNGVersion, DNGBackwardVersion, UniqueCameraModel, Make, Model, ColorMatrix1, CalibrationIlluminant1 (D65),
    # AsShotNeutral
    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (50707, "B", 4, (1, 1, 0, 0), True),
        (50708, "s", 0, "txtai-imagehash test camera", True),
        (271, "s", 0, "txtai-imagehash", True),
        (272, "s", 0, "test camera", True),
        (50721, "2i", 9, rationals(XYZSRGB), True),
        (50778, "H", 1, 21, True),
        (50728, "2I", 3, rationals((1, 1, 1)), True),
    ]

    # CFARepeatPatternDim, CFAPattern (RGGB), BlackLevel, WhiteLevel
    raw = [(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True), (50714, "H", 1, 0, True), (50717, "H", 1, WHITE, True)]

    with tifffile.TiffWriter(path) as tif:
        if preview:
            jpeg = camera(image, quality)
            tif.write(
                iter([jpeg]),
                shape=(height, width, 3),
                dtype="uint8",
                photometric="ycbcr",
                subsampling=(2, 2),
                compression="jpeg",
                subfiletype=1,
                rowsperstrip=height,
                subifds=1,
                extratags=tags,
            )
            tif.write(mosaic, photometric=32803, subfiletype=0, extratags=raw)
        else:
            tif.write(mosaic, photometric=32803, subfiletype=0, extratags=tags + raw)

    return path


def camera(image, quality=90):
    """
    The JPEG a camera writes beside its RAW file.

    Args:
        image: RGB PIL image
        quality: JPEG quality

    Returns:
        JPEG bytes
    """

    output = io.BytesIO()
    image.save(output, format="JPEG", quality=quality)
    return output.getvalue()


def profile(colorants=P3, gamma=2.2, name="Display P3 (test)"):
    """
    Writes an ICC v2 RGB display profile with the given D50 colorants and a gamma curve: a colour space that is not
    sRGB, for ICC conversion tests.

    Args:
        colorants: red, green and blue XYZ colorants, adapted to D50
        gamma: tone curve exponent
        name: profile description

    Returns:
        ICC profile bytes
    """

    def fixed(value):
        return struct.pack(">i", round(value * 65536))

    def xyz(values):
        return b"XYZ \x00\x00\x00\x00" + b"".join(fixed(value) for value in values)

    text = name.encode("ascii") + b"\x00"
    description = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + b"\x00" * 8 + b"\x00\x00\x00" + b"\x00" * 67
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"
    tags = [
        (b"desc", description),
        (b"cprt", b"text\x00\x00\x00\x00public domain\x00\x00\x00"),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(colorants[0])),
        (b"gXYZ", xyz(colorants[1])),
        (b"bXYZ", xyz(colorants[2])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]

    offset, table, data = 128 + 4 + 12 * len(tags), b"", b""
    for signature, content in tags:
        table += signature + struct.pack(">II", offset + len(data), len(content))
        data += content + b"\x00" * (-len(content) % 4)

    size = offset + len(data)
    header = struct.pack(">I4sI4s4s4s", size, b"", 0x02100000, b"mntr", b"RGB ", b"XYZ ") + b"\x00" * 12 + b"acsp"
    header += b"\x00" * 24 + struct.pack(">I", 0) + fixed(0.9642) + fixed(1.0) + fixed(0.8249)
    header += b"\x00" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + data


def toprofile(image, icc):
    """
    Converts an sRGB image into the colour space of an ICC profile and attaches the profile, as a camera or editor that
    saves in that space does.

    Args:
        image: RGB PIL image in sRGB
        icc: ICC profile bytes

    Returns:
        RGB PIL image with info["icc_profile"]
    """

    converted = ImageCms.profileToProfile(image, ImageCms.createProfile("sRGB"), ImageCms.ImageCmsProfile(io.BytesIO(icc)), outputMode="RGB")
    converted.info["icc_profile"] = icc
    return converted
