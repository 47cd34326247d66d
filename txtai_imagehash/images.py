"""
Images module: turns any image source into a PIL image, or a clear error naming the source. Files are opened safely:
regular files only, within a size limit, header checked before the rest is read.
"""

import logging
import os
import stat

from io import BytesIO


from PIL import Image, ImageOps, UnidentifiedImageError

from . import formats, raw
from .colour import convert
from .frames import Frame, frame

logger = logging.getLogger(__name__)

# Smallest side, in pixels, that draft() decodes JPEG files to by default (DCT scaling picks 1/2, 1/4 or 1/8)
DRAFT = 256

# Largest image file accepted, in bytes (256 MiB: a 100-megapixel camera RAW file, or the decoded pixels of the
# largest image PIL.Image.MAX_IMAGE_PIXELS accepts). Larger files are refused from their size before a byte is read,
# so that memory per image stays bounded. Raise it (or pass limit=) to accept larger files, None accepts any size.
MAX_FILE_BYTES = 256 * 1024 * 1024

# File types that are not regular files, for error messages
KINDS = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


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
        source: path, PIL image, bytes, binary file object or Frame

    Returns:
        path string for paths and named files, otherwise a short description
    """

    if isinstance(source, Frame):
        return f"{describe(source.source)}#{source.index}"
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
        source: path, PIL image, bytes, binary file object or Frame

    Returns:
        path string or None
    """

    if isinstance(source, Frame):
        return path(source.source)
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)

    name = getattr(source, "filename", None) or getattr(source, "name", None)
    return os.fsdecode(name) if isinstance(name, (str, bytes)) and name else None


def opened(source, limit=None):
    """
    Opens an image file for reading, safely: only a regular file (a FIFO, device or socket named like an image is
    refused without blocking or reading it), and only within the size limit.

    Args:
        source: file path
        limit: largest file accepted in bytes, defaults to MAX_FILE_BYTES; None there accepts any size

    Returns:
        binary file object, positioned at the start; the caller closes it
    """

    name = os.fspath(source)
    try:
        # Check before opening, so that opening a device has no side effect, then again on what was opened
        regular(name, os.stat(name), limit)
        descriptor = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise ImageError(name, failure(error)) from error

    try:
        regular(name, os.fstat(descriptor), limit)
        os.set_blocking(descriptor, True)
        return open(name, "rb", opener=lambda *_: descriptor)  # pylint: disable=R1732
    except BaseException:
        os.close(descriptor)
        raise


def regular(name, info, limit=None):
    """
    Checks that a file is a regular file within the size limit.

    Args:
        name: file name, for messages
        info: os.stat_result of the file
        limit: largest file accepted in bytes, defaults to MAX_FILE_BYTES

    Raises:
        ImageError: not a regular file, or too large
    """

    if stat.S_ISDIR(info.st_mode):
        raise ImageError(name, "is a directory")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(name, f"not a regular file ({KINDS.get(stat.S_IFMT(info.st_mode), 'special file')})")

    large(name, info.st_size, limit)


def large(name, size, limit=None):
    """
    Checks a file size against the limit.

    Args:
        name: file name, for messages
        size: size in bytes
        limit: largest file accepted in bytes, defaults to MAX_FILE_BYTES

    Raises:
        ImageError: when size is over the limit
    """

    limit = MAX_FILE_BYTES if limit is None else limit
    if limit and size > limit:
        raise ImageError(name, f"file too large: {size} bytes is over the limit of {limit} (txtai_imagehash.images.MAX_FILE_BYTES)")


def read(source, limit=None):
    """
    Reads the encoded bytes of an image source. A file is opened safely (see opened()), and its header is checked
    before the rest is read, so a large file that no opener recognizes costs no memory. A file object is read up to
    the limit.

    Args:
        source: path, bytes or binary file object
        limit: largest file accepted in bytes, defaults to MAX_FILE_BYTES

    Returns:
        bytes
    """

    name = describe(source)
    limit = MAX_FILE_BYTES if limit is None else limit
    try:
        if isinstance(source, (str, os.PathLike)):
            with opened(source, limit) as f:
                recognize(f, name)
                data = f.read(limit + 1) if limit else f.read()
        elif isinstance(source, (bytes, bytearray, memoryview)):
            return bytes(source)
        elif hasattr(source, "read"):
            data = source.read(limit + 1) if limit else source.read()
        else:
            raise ImageError(name, f"unsupported image source type {type(source).__name__}")
    except OSError as e:
        raise ImageError(name, failure(e)) from e

    # A file that grew after it was checked, or a stream
    large(name, len(data), limit)
    return data


def recognize(fp, name):
    """
    Checks from its header that an installed opener recognizes an image file, without reading the rest of it.

    Args:
        fp: binary file object at its start; left at its start
        name: file name

    Raises:
        ImageError: empty file, a format of the formats extra that is not installed, or not a recognized image format
    """

    prefix = fp.read(16)
    fp.seek(0)
    if not prefix:
        raise ImageError(name, "empty file")

    reason = formats.missing(fp, name)
    if reason:
        raise ImageError(name, reason)

    # Pillow's own check: every opener with a header signature
    Image.init()
    for plugin in Image.ID:
        accept = Image.OPEN[plugin][1]
        result = accept(prefix) if accept else None
        if result and not isinstance(result, str):
            return

    # Formats without a signature (TGA and a few others): their openers read the header only
    try:
        Image.open(fp, formats=[plugin for plugin in Image.ID if not Image.OPEN[plugin][1]])
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageError(name, "not a recognized image format") from error
    finally:
        fp.seek(0)


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


def decode(source, exif=False, name=None, normalize=False, limit=None):
    """
    Opens an image source as a decoded PIL image. Decoding happens here, so a truncated or corrupt file
    fails now with an ImageError instead of later inside a hash function. Files are opened safely (see opened()).

    Args:
        source: path (str or pathlib), PIL image, bytes, binary file object, or a Frame of one of these
        exif: apply the EXIF orientation tag if True; False (default) hashes the pixels as stored, as
              txtai.pipeline.ImageHash does
        name: name of the source for error messages, defaults to describe(source)
        normalize: convert to 8-bit sRGB or L first (see convert()); False (default) keeps the stored mode
        limit: largest file accepted in bytes, defaults to MAX_FILE_BYTES

    Returns:
        PIL image
    """

    name = name if name else describe(source)
    try:
        if isinstance(source, Frame):
            image = frame(source, name, limit)
        elif isinstance(source, Image.Image):
            image = pixels(source, name)
            image.load()
        elif isinstance(source, (str, os.PathLike)):
            with opened(source, limit) as f:
                image = load(f, name)
                image.filename = os.fspath(source)
        elif isinstance(source, (bytes, bytearray, memoryview)):
            image = load(BytesIO(bytes(source)), name)
        elif hasattr(source, "read"):
            # A stream that cannot seek (a pipe, a socket, an HTTP response) is read first, within the size limit
            seekable = getattr(source, "seekable", lambda: False)()
            image = load(source if seekable else BytesIO(read(source, limit)), name)
        else:
            raise ImageError(name, f"unsupported image source type {type(source).__name__}")

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


def load(fp, name, index=0):
    """
    Opens and decodes an image file object: one frame of it, within Pillow's pixel limit.

    Args:
        fp: binary file object
        name: name for error messages
        index: frame number

    Returns:
        decoded PIL image
    """

    image = header(fp, name)
    if index:
        image.seek(index)
    image.load()
    return image


def header(fp, name):
    """
    Opens an image file object from its header, checking its format's opener is installed and its pixel count.

    Args:
        fp: binary file object
        name: name for error messages

    Returns:
        lazily decoded PIL image
    """

    reason = formats.missing(fp, name)
    if reason:
        raise ImageError(name, reason)

    return pixels(Image.open(fp), name)


def pixels(image, name):
    """
    Checks the pixel count of an image from its header. Pillow refuses images over twice its pixel limit; this also
    refuses those between once and twice, so that memory per image stays bounded by Image.MAX_IMAGE_PIXELS (raise it
    to accept larger images).

    Args:
        image: PIL image, not necessarily decoded
        name: name for error messages

    Returns:
        image
    """

    limit = Image.MAX_IMAGE_PIXELS
    if limit and image.width * image.height > limit:
        raise ImageError(name, f"too many pixels: {image.width}x{image.height} is over the limit of {limit} (PIL.Image.MAX_IMAGE_PIXELS)")

    return image


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
    Opens an image at reduced size where its format offers a reduced-size decode: a JPEG with Pillow's draft mode (DCT
    scaling to the smallest of 1/2, 1/4 or 1/8 of full size that keeps the short side at DRAFT pixels or more, or the
    longest side at longest; luma only when grey), a HEIC/HEIF image from an embedded thumbnail with THUMBNAIL pixels
    or more on its short side (or longest on its long side), a camera RAW file from its preview JPEG in draft mode or
    demosaiced at half size.

    Args:
        source: path, bytes or binary file object
        grey: decode grey levels only (JPEG)
        longest: keep the longest side at this many pixels or more, instead of the short side at DRAFT

    Returns:
        decoded PIL image, or None when no reduced-size decode applies (other formats, other sources, errors: the
        exact path then reports errors as usual)
    """

    if isinstance(source, Image.Image) or not isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        return None

    try:
        if isinstance(source, (bytes, bytearray, memoryview)):
            return reduced(BytesIO(bytes(source)), grey, longest)

        with opened(source) as f:
            image = reduced(f, grey, longest)
            if image is not None:
                image.filename = os.fspath(source)
            return image

    # pylint: disable=W0703
    except Exception:
        return None


# Smallest short side, in pixels, of an embedded HEIC/HEIF thumbnail that draft() decodes instead of the image: a
# little under DRAFT, so that the common 320x240 thumbnails qualify
THUMBNAIL = 240


def reduced(fp, grey, longest):
    """
    Decodes an image file object at reduced size, see draft().

    Args:
        fp: binary file object
        grey: decode grey levels only
        longest: keep the longest side at this many pixels or more

    Returns:
        decoded PIL image or None
    """

    # Only formats with a reduced-size decode are opened here: opening others would decode some twice (JPEG XL)
    prefix = fp.read(16)
    fp.seek(0)
    if not (prefix.startswith(b"\xff\xd8\xff") or formats.sniff(prefix) in ("HEIF", "RAW") or raw.accept(prefix)):
        return None

    image = header(fp, describe(fp))
    if image.format not in ("JPEG", "HEIF", "RAW"):
        image.close()
        return None

    side = THUMBNAIL if image.format == "HEIF" else DRAFT
    scale = longest / max(image.size) if longest else side / min(image.size)
    size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
    mode = "L" if grey and image.mode in ("RGB", "L", "YCbCr") and image.format == "JPEG" else image.mode
    if image.draft(mode, size) is None and image.format != "JPEG":
        image.close()
        return None

    image.load()
    return image
