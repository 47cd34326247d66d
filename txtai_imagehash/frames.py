"""
Frames module: the frames of multi-frame images (animated GIF, WebP and PNG, multi-page TIFF) as image sources of
their own. txtai_imagehash.images decodes them (and imports this module: it opens files through images at call time).
"""

import logging
import os
import threading

from io import BytesIO

from PIL import Image

logger = logging.getLogger(__name__)

# Most frames read from one multi-frame image with frames="all" (see txtai_imagehash.index.documents)
MAX_FRAMES = 1000


class Frame:
    """
    One frame of a multi-frame image (animated GIF, WebP, PNG; multi-page TIFF): decode() opens its source and seeks
    to the frame. Picklable, so frames go to worker processes like other sources.
    """

    def __init__(self, source, index):
        """
        Creates a Frame.

        Args:
            source: path, bytes or binary file object of the image
            index: frame number, 0 is the first frame
        """

        self.source = source
        self.index = index

    def __repr__(self):
        return f"Frame({type(self.source).__name__}, {self.index})"


# The multi-frame image that frame() read last, by its bytes: the frames of one image are read in order, and seeking
# on from the previous frame decodes each frame once (Pillow decodes GIF, WebP and PNG animations from the start)
LAST = {"data": None, "image": None}
LOCK = threading.Lock()


def frame(source, name, limit=None):
    """
    Decodes one frame of a multi-frame image.

    Args:
        source: Frame
        name: name for error messages
        limit: largest file accepted in bytes

    Returns:
        decoded PIL image of the frame
    """

    # pylint: disable=C0415
    from .images import header, load, opened

    data = source.source
    if isinstance(data, (str, os.PathLike)):
        with opened(data, limit) as f:
            return load(f, name, source.index).copy()

    if not isinstance(data, (bytes, bytearray, memoryview)):
        return load(data, name, source.index).copy()

    with LOCK:
        image = LAST["image"] if LAST["data"] is data else None
        if image is None or image.tell() > source.index:
            image = header(BytesIO(data), name)
            LAST.update(data=data, image=image)

        image.seek(source.index)
        image.load()
        result = image.copy()

        # Last frame read: let the bytes go
        if source.index + 1 >= min(getattr(image, "n_frames", 1), MAX_FRAMES or source.index + 1):
            LAST.update(data=None, image=None)

        return result


def count(data, name=None):
    """
    Number of frames of an encoded image, from its header.

    Args:
        data: encoded image bytes
        name: name for log messages

    Returns:
        number of frames, at most MAX_FRAMES; 1 for images that cannot be opened (decoding reports them)
    """

    try:
        with Image.open(BytesIO(data)) as image:
            frames = getattr(image, "n_frames", 1)
    except (OSError, SyntaxError, ValueError, EOFError):
        return 1

    if MAX_FRAMES and frames > MAX_FRAMES:
        logger.warning("%s: %d frames, indexing the first %d (txtai_imagehash.frames.MAX_FRAMES)", name, frames, MAX_FRAMES)
        return MAX_FRAMES

    return frames
