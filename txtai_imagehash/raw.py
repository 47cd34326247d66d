"""
Raw module: camera RAW files (DNG, CR2, CR3, NEF, ARW, RAF, ORF, RW2 and the other formats LibRaw reads) as Pillow
images, decoded with rawpy. The image is the embedded preview JPEG, the camera's own rendering of the shot, when the
file has one of the raw image's shape; otherwise the raw data, demosaiced. Registered as Pillow's "RAW" format by
txtai_imagehash.formats when rawpy is installed (the `formats` extra).
"""

import os

from io import BytesIO

from PIL import Image, ImageFile, TiffImagePlugin

# File extensions of camera RAW formats
EXTENSIONS = (".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2", ".pef", ".srw", ".rwl", ".3fr", ".iiq")

# Headers of RAW formats that are not plain TIFF: Fujifilm, Olympus, Panasonic
MAGIC = (b"FUJIFILMCCD-RAW", b"IIRO", b"IIRS", b"MMOR", b"IIU\x00")

# TIFF headers: DNG, CR2, NEF, ARW, PEF and others are TIFF files
TIFF = (b"II*\x00", b"MM\x00*")

# TIFF tags: DNGVersion, Make, NewSubfileType, SubIFDs
DNGVERSION, MAKE, SUBFILETYPE, SUBIFDS = 50706, 271, 254, 330

# Smallest side, in pixels, of an embedded preview that is hashed instead of the demosaiced raw data (a preview of the
# raw image's full size is always used)
PREVIEW = 256

# Largest difference of aspect ratio between the preview and the raw image, as a share: a letterboxed or cropped
# preview is not the same picture
ASPECT = 0.02

# LibRaw's flip -> EXIF orientation
ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}


def accept(prefix):
    """
    Checks if a header may be a camera RAW file: RAW headers, Canon CR3 and every TIFF file (confirmed by israw when
    opened).

    Args:
        prefix: first bytes of a file

    Returns:
        True if the file may be a camera RAW file
    """

    return prefix.startswith(MAGIC + TIFF) or prefix[4:12] == b"ftypcrx "


def israw(fp, name=None):
    """
    Checks if a file is a camera RAW file, without LibRaw: a RAW header, a TIFF file with a DNG version tag, with a
    RAW extension, or a TIFF whose first image is a reduced-size preview of a camera's (Make tag set), as the RAW
    formats of Nikon, Sony, Pentax and others are.

    Args:
        fp: binary file object, read from its start; its position is restored
        name: file name, if known

    Returns:
        True for camera RAW files
    """

    position = fp.tell()
    try:
        fp.seek(0)
        prefix = fp.read(16)
        if prefix.startswith(MAGIC) or prefix[4:12] == b"ftypcrx " or prefix[8:10] == b"CR":
            return True
        if not prefix.startswith(TIFF):
            return False
        if isinstance(name, (str, bytes, os.PathLike)) and os.path.splitext(os.fsdecode(name))[1].lower() in EXTENSIONS:
            return True

        # First image file directory: tags only, no pixels
        fp.seek(0)
        directory = TiffImagePlugin.ImageFileDirectory_v2(fp.read(8))
        fp.seek(directory.next)
        directory.load(fp)
        if DNGVERSION in directory:
            return True

        return MAKE in directory and (directory.get(SUBFILETYPE, 0) & 1 or SUBIFDS in directory)

    # pylint: disable=W0703
    except Exception:
        return False
    finally:
        fp.seek(position)


class RawImageFile(ImageFile.ImageFile):
    """
    A camera RAW file as a Pillow image: the embedded preview JPEG of the raw image's shape when the file has one,
    else the demosaiced raw data (camera white balance, sRGB), in either case as stored (the camera's orientation is
    in the EXIF orientation tag, applied with exif=True). draft() decodes at reduced size: the preview JPEG with DCT
    scaling, the raw data at half size.
    """

    format = "RAW"
    format_description = "camera RAW (LibRaw)"

    def _open(self):
        # pylint: disable=C0415
        import rawpy

        if not israw(self.fp, self.filename or getattr(self.fp, "name", None)):
            raise SyntaxError("not a camera RAW file")

        self.fp.seek(0)
        try:
            self.raw = rawpy.imread(BytesIO(self.fp.read()))
            sizes = self.raw.sizes
        except (rawpy.LibRawError, ValueError) as error:
            raise SyntaxError(f"LibRaw cannot read this file: {error}") from None

        self.preview, self.half = self.thumbnail(sizes.width, sizes.height), False
        self._size = self.preview.size if self.preview else (sizes.width, sizes.height)
        self._mode = "RGB"
        self.info["raw"] = "preview" if self.preview else "demosaic"

        # The camera's orientation as the EXIF tag, so that exif=True applies it as it does for JPEG files
        orientation = ORIENTATION.get(sizes.flip, 1)
        if orientation != 1:
            exif = Image.Exif()
            exif[0x0112] = orientation
            self.info["exif"] = exif.tobytes()

        self.tile = []

    def thumbnail(self, width, height):
        """
        Opens the embedded preview if it is a picture of the raw image as stored: the same orientation and aspect ratio,
        and PREVIEW pixels a side or more.

        Args:
            width: width of the raw image
            height: height of the raw image

        Returns:
            PIL image (lazily decoded JPEG) or None
        """

        # pylint: disable=C0415
        import rawpy

        try:
            thumb = self.raw.extract_thumb()
            if thumb.format == rawpy.ThumbFormat.JPEG:
                image = Image.open(BytesIO(thumb.data))
            else:
                image = Image.fromarray(thumb.data)
        except (rawpy.LibRawError, OSError, SyntaxError, ValueError):
            return None

        # The same picture as stored: same orientation and aspect ratio (not letterboxed or cropped), large enough to hash
        if min(image.size) < min(PREVIEW, width, height) or abs((image.width / image.height) / (width / height) - 1) > ASPECT:
            return None

        return image

    def draft(self, mode, size):
        if not size or getattr(self, "_im", None) is not None:
            return None

        if self.preview:
            if self.preview.format != "JPEG":
                return None
            result = self.preview.draft(mode, size)
            self._size, self._mode = self.preview.size, self.preview.mode
            return (self.mode, (0, 0, *self.size)) if result else None

        # Demosaic at half size when that still covers size
        if size[0] <= self.width // 2 and size[1] <= self.height // 2:
            self.half = True
            self._size = (self.width // 2, self.height // 2)
            return self.mode, (0, 0, *self.size)

        return None

    def load(self):
        if getattr(self, "_im", None) is None and getattr(self, "raw", None) is not None:
            # pylint: disable=C0415
            import rawpy

            try:
                if self.preview:
                    self.preview.load()
                    image = self.preview if self.preview.mode in ("RGB", "L") else self.preview.convert("RGB")
                else:
                    # Camera white balance and the sRGB tone curve, as a camera's own JPEG; orientation as stored
                    pixels = self.raw.postprocess(use_camera_wb=True, user_flip=0, output_bps=8, gamma=(2.4, 12.92), half_size=self.half)
                    image = Image.fromarray(pixels, "RGB")
            except (rawpy.LibRawError, ValueError) as error:
                raise OSError(f"LibRaw cannot decode this file: {error}") from None
            finally:
                self.raw.close()
                self.raw = None

            self._size, self._mode = image.size, image.mode
            self.im = image.im
            self.preview = None

        return super().load()


def register():
    """
    Registers the RAW format with Pillow, ahead of TIFF, which would otherwise open the thumbnail of a RAW file.
    """

    Image.register_open(RawImageFile.format, RawImageFile, accept)
    Image.register_extensions(RawImageFile.format, EXTENSIONS)
    Image.ID.remove(RawImageFile.format)
    Image.ID.insert(0, RawImageFile.format)
