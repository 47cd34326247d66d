"""
Images module: turns any image source into a PIL image, or a clear error naming the source.
"""

import os

from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError


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
        raise ImageError(describe(source), e.strerror or str(e)) from e

    raise ImageError(describe(source), f"unsupported image source type {type(source).__name__}")


def load(source, exif=False, name=None):
    """
    Opens an image source as a decoded PIL image. Decoding happens here, so a truncated or corrupt file
    fails now with an ImageError instead of later inside a hash function.

    Args:
        source: path (str or pathlib), PIL image, bytes or binary file object
        exif: apply the EXIF orientation tag if True; False (default) hashes the pixels as stored, as
              txtai.pipeline.ImageHash does
        name: name of the source for error messages, defaults to describe(source)

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

        image.load()
        return ImageOps.exif_transpose(image) if exif else image

    except ImageError:
        raise
    except FileNotFoundError as e:
        raise ImageError(name, "file not found") from e
    except IsADirectoryError as e:
        raise ImageError(name, "is a directory") from e
    except PermissionError as e:
        raise ImageError(name, "permission denied") from e
    except UnidentifiedImageError as e:
        raise ImageError(name, "not a recognized image format") from e
    except Image.DecompressionBombError as e:
        raise ImageError(name, f"too many pixels (decompression bomb limit): {e}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(name, f"cannot decode image: {e}") from e


def encoded(source, exif=False):
    """
    Opens an image source and keeps its original encoded bytes on the image, so that storing it in an
    index (see txtai_imagehash.encoder.ImageEncoder) writes the original file, not a re-encoding. An image
    created in memory has no encoded form and no format: it is stored as PNG.

    Args:
        source: path, PIL image, bytes or binary file object
        exif: apply the EXIF orientation tag if True

    Returns:
        PIL image with an `encoded` attribute holding bytes
    """

    if isinstance(source, Image.Image):
        image = load(source, exif)
        if image.format:
            return image

        output = BytesIO()
        image.save(output, format="PNG")
        data = output.getvalue()
    else:
        data = read(source)

    image = load(BytesIO(data), exif, describe(source))
    image.encoded = data

    # Keep the source's name for error messages and metadata
    image.filename = path(source) or ""
    return image
