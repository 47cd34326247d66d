"""
Formats module: image formats beyond Pillow's own. Registers the Pillow openers of the `formats` extra that are
installed (pillow-heif: HEIC/HEIF, pillow-jxl-plugin: JPEG XL, rawpy: camera RAW through txtai_imagehash.raw), and
recognizes the files of these formats by header and extension when they are not, so that such a file fails with an
error that names the extra instead of "not a recognized image format". AVIF is Pillow's own (Pillow 11.3 and later).
"""

import importlib
import logging
import os

from PIL import Image

from . import raw

logger = logging.getLogger(__name__)

# Install command of the extra, for error messages
EXTRA = 'pip install "txtai-imagehash[formats]"'

# Formats of the extra: Pillow format name -> (description, module that reads it, PyPI package, file extensions)
FORMATS = {
    "HEIF": ("HEIC/HEIF", "pillow_heif", "pillow-heif", (".heic", ".heics", ".heif", ".heifs", ".hif")),
    "JXL": ("JPEG XL", "pillow_jxl", "pillow-jxl-plugin", (".jxl",)),
    "RAW": ("camera RAW", "rawpy", "rawpy", raw.EXTENSIONS),
}

# ISO base media file brands of HEIF images (mif1 and msf1 are also AVIF's: Pillow opens those first)
HEIF = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1", b"msf1")

# JPEG XL: bare codestream, ISO base media container
JXL = (b"\xff\x0a", b"\x00\x00\x00\x0cJXL \r\n\x87\n")


def register():
    """
    Registers the openers of the extra that are installed. Called once, when txtai_imagehash.images is imported.

    Returns:
        {format name: True if its opener is installed}
    """

    available = {}
    for name, (_, module, _, _) in FORMATS.items():
        try:
            library = importlib.import_module(module)
        except ImportError:
            available[name] = False
            continue

        # pillow-jxl-plugin registers itself on import; rawpy is read through this package's RAW plugin
        if name == "HEIF":
            library.register_heif_opener()
        elif name == "RAW":
            raw.register()
        available[name] = True

    return available


# Openers registered at import
AVAILABLE = register()


def extensions():
    """
    File extensions of every image format: those Pillow's installed openers read, and those of the extra's formats
    whether installed or not (their files are reported when the extra is missing, not skipped as non-images).

    Returns:
        frozenset of lower case extensions with the dot
    """

    Image.init()
    extra = {extension for _, _, _, values in FORMATS.values() for extension in values}
    return frozenset({extension.lower() for extension in Image.registered_extensions()} | extra)


def sniff(prefix, name=None):
    """
    Recognizes a file of one of the extra's formats from its first bytes, or for RAW formats that are TIFF files, from
    its name.

    Args:
        prefix: first bytes of the file (16 or more)
        name: file name, if known

    Returns:
        format name of FORMATS or None
    """

    if prefix[4:8] == b"ftyp":
        if prefix[8:12] == b"crx ":
            return "RAW"
        if prefix[8:12] in HEIF:
            return "HEIF"

    if prefix.startswith(JXL):
        return "JXL"

    if prefix.startswith(raw.MAGIC) or prefix[8:10] == b"CR" and prefix.startswith(raw.TIFF):
        return "RAW"

    extension = os.path.splitext(os.fsdecode(name))[1].lower() if name else ""
    return "RAW" if prefix.startswith(raw.TIFF) and extension in raw.EXTENSIONS else None


def missing(fp, name=None):
    """
    Reason a file cannot be opened because the opener of its format is not installed.

    Args:
        fp: binary file object; its position is restored
        name: file name, if known

    Returns:
        reason string naming the extra, or None when the file is not in one of the extra's formats or its opener is
        installed
    """

    position = fp.tell()
    fp.seek(0)
    prefix = fp.read(64)
    fp.seek(position)

    kind = sniff(prefix, name)
    if kind is None and prefix.startswith(raw.TIFF) and not AVAILABLE["RAW"]:
        kind = "RAW" if raw.israw(fp, name) else None

    if kind is None or AVAILABLE[kind]:
        return None

    description, _, package, _ = FORMATS[kind]
    return f"{description} files need {package}: {EXTRA}"
