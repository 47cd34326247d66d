"""
Images module: turns any image source into a PIL image, or a clear error naming the source.
"""

import logging
import os

from io import BytesIO

import numpy as np

from PIL import Image, ImageOps, UnidentifiedImageError

logger = logging.getLogger(__name__)

# Backgrounds that transparent pixels are composited onto by convert(): white, unless the picture is light on
# transparency (a white shape in the alpha channel, as overlay wallpapers are), which only shows on black
BACKGROUND = (255, 255, 255)
CONTRAST = (0, 0, 0)

# Smallest side, in pixels, that draft() decodes JPEG files to by default (DCT scaling picks 1/2, 1/4 or 1/8)
DRAFT = 256


class ImageError(ValueError):
    """
    An image source that could not be read or decoded. The message names the source and the reason.
    """

    def __init__(self, source, reason):
        """
        Creates a new ImageError.

        Args:
            source: description of the image source (usually its path)
            reason: why it failed
        """

        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def skip(error, errors=None):
    """
    Reports an image that a batch or folder run skips: logs it and collects it in errors, if given.

    Args:
        error: ImageError
        errors: optional list that collects skipped images' errors
    """

    logger.warning("Skipped image: %s", error)
    if errors is not None:
        errors.append(error)


def describe(source):
    """
    Describes an image source for messages and metadata.

    Args:
        source: path, PIL image, bytes or binary file object

    Returns:
        path string for paths and named files, otherwise a short description
    """

    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, Image.Image):
        name = getattr(source, "filename", None)
        return name if name else f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"

    name = getattr(source, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) else f"<{type(source).__name__}>"


def path(source):
    """
    Path of an image source, if it has one.

    Args:
        source: path, PIL image, bytes or binary file object

    Returns:
        path string or None
    """

    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)

    name = getattr(source, "filename", None) or getattr(source, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) and name else None


def read(source):
    """
    Reads the encoded bytes of an image source.

    Args:
        source: path, bytes or binary file object

    Returns:
        bytes
    """

    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as f:
                return f.read()
        if isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source)
        if hasattr(source, "read"):
            return source.read()
    except OSError as e:
        raise ImageError(describe(source), failure(e)) from e

    raise ImageError(describe(source), f"unsupported image source type {type(source).__name__}")


def failure(error):
    """
    Short reason for a file system error.

    Args:
        error: OSError

    Returns:
        reason string
    """

    reasons = {FileNotFoundError: "file not found", IsADirectoryError: "is a directory", PermissionError: "permission denied"}
    return reasons.get(type(error), error.strerror or str(error))


def decode(source, exif=False, name=None, normalize=False):
    """
    Opens an image source as a decoded PIL image. Decoding happens here, so a truncated or corrupt file
    fails now with an ImageError instead of later inside a hash function.

    Args:
        source: path (str or pathlib), PIL image, bytes or binary file object
        exif: apply the EXIF orientation tag if True; False (default) hashes the pixels as stored, as
              txtai.pipeline.ImageHash does
        name: name of the source for error messages, defaults to describe(source)
        normalize: convert to 8-bit RGB or L first (see convert()); False (default) keeps the stored mode

    Returns:
        PIL image
    """

    name = name if name else describe(source)
    try:
        if isinstance(source, Image.Image):
            image = source
        elif isinstance(source, (bytes, bytearray, memoryview)):
            image = Image.open(BytesIO(bytes(source)))
        elif isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
            image = Image.open(source)
        else:
            raise ImageError(name, f"unsupported image source type {type(source).__name__}")

        # Pillow refuses images over twice its pixel limit; also refuse those between once and twice, so that
        # memory per image stays bounded by Image.MAX_IMAGE_PIXELS (raise it to accept larger images)
        limit = Image.MAX_IMAGE_PIXELS
        if limit and image.width * image.height > limit:
            raise ImageError(name, f"too many pixels: {image.width}x{image.height} is over the limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS)")

        image.load()
        image = ImageOps.exif_transpose(image) if exif else image
        return convert(image) if normalize else image

    except ImageError:
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        raise ImageError(name, failure(e)) from e
    except UnidentifiedImageError as e:
        raise ImageError(name, "empty file" if empty(source) else "not a recognized image format") from e
    except Image.DecompressionBombError as e:
        raise ImageError(name, f"too many pixels: {e}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(name, f"cannot decode image: {e}") from e


def convert(image):
    """
    Converts an image to 8-bit pixels with no transparency: transparent pixels are composited onto white (onto black
    when the picture shows more there: light shapes whose form is in the alpha channel), 16 and 32-bit grey levels
    are scaled to 8 bits, CMYK, palette and other modes become RGB.

    Args:
        image: PIL image

    Returns:
        PIL image in mode RGB or L
    """

    mode = image.mode
    if mode in ("RGB", "L"):
        return image

    # Transparency: composite on the background the picture shows on
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        return composite(rgba, background(rgba))

    # High bit depth grey levels: scale to 8 bits by the range of the stored type
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or values.max() <= 65535 else values.max()
        top = 1.0 if mode == "F" and values.max() <= 1.0 else top
        return Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")

    return image.convert("RGB")


def composite(rgba, color):
    """
    Composites an RGBA image onto a background colour.

    Args:
        rgba: RGBA PIL image
        color: RGB background colour

    Returns:
        RGB PIL image
    """

    return Image.alpha_composite(Image.new("RGBA", rgba.size, color + (255,)), rgba).convert("RGB")


def background(rgba):
    """
    Chooses the background of a transparent image: white, unless the image shows more contrast on black (compared
    on a small copy).

    Args:
        rgba: RGBA PIL image

    Returns:
        RGB colour
    """

    small = rgba.copy()
    small.thumbnail((64, 64))
    spread = [float(np.asarray(composite(small, color).convert("L"), dtype=np.float64).std()) for color in (BACKGROUND, CONTRAST)]
    return CONTRAST if spread[1] > 2 * spread[0] + 1 else BACKGROUND


def empty(source):
    """
    Checks if an image source holds no bytes.

    Args:
        source: path, PIL image, bytes or binary file object

    Returns:
        True if source is an empty file or empty bytes
    """

    if isinstance(source, (str, os.PathLike)):
        return os.path.isfile(source) and os.path.getsize(source) == 0
    if isinstance(source, BytesIO):
        return not source.getbuffer().nbytes
    return isinstance(source, (bytes, bytearray, memoryview)) and not len(source)


def encoded(source):
    """
    Opens an image source and keeps its original encoded bytes on the image, so that storing it in an
    index (see txtai_imagehash.encoder.ImageEncoder) writes the original file, not a re-encoding. An image
    created in memory has no encoded form and no format: it is stored as PNG. Pixels are as stored: hash
    pipelines apply EXIF orientation and mode conversion themselves.

    Args:
        source: path, PIL image, bytes or binary file object

    Returns:
        PIL image with an `encoded` attribute holding bytes
    """

    if isinstance(source, Image.Image):
        image = decode(source)

        # Opened from a file: keep that file's bytes
        if image.format and path(image) and os.path.isfile(path(image)):
            image.encoded = read(path(image))
            return image

        # Opened from memory: txtai's encoder saves it again in its format
        if image.format:
            return image

        output = BytesIO()
        image.save(output, format="PNG")
        data = output.getvalue()
    else:
        data = read(source)

    image = decode(BytesIO(data), name=describe(source))
    image.encoded = data

    # Keep the source's name for error messages and metadata
    image.filename = path(source) or ""
    return image


def draft(source, grey=False, longest=None):
    """
    Opens a JPEG at reduced scale with Pillow's draft mode: DCT scaling to the smallest of 1/2, 1/4 or 1/8 of full
    size that keeps the short side at DRAFT pixels or more (or the longest side at longest), luma only when grey.

    Args:
        source: path, bytes or binary file object
        grey: decode grey levels only
        longest: keep the longest side at this many pixels or more, instead of the short side at DRAFT

    Returns:
        decoded PIL image, or None when draft decoding does not apply (other formats, other sources, errors: the
        exact path then reports errors as usual)
    """

    if isinstance(source, Image.Image) or not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        return None

    try:
        image = Image.open(BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else source)
        if image.format != "JPEG":
            image.close()
            return None

        scale = longest / max(image.size) if longest else DRAFT / min(image.size)
        size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
        image.draft("L" if grey and image.mode in ("RGB", "L", "YCbCr") else image.mode, size)
        image.load()
        return image

    # pylint: disable=W0703
    except Exception:
        return None
