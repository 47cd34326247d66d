"""
Index module: the recipe's index. Embeddings configurations for image hash indexes, and the streams of hashes and
documents that fill them.
"""

import math
import os

from io import BytesIO

from PIL import Image

from .frames import Frame, count
from .hashing.batch import GREY, run
from .images import ImageError, describe, encoded, path, read, skip
from .pipeline import ImageHash
from .sql import FUNCTIONS

# Dotted path of the vectors method, for configuration dicts and YAML
METHOD = "txtai_imagehash.vectors.HashVectors"

# Exact multi-index hashing ANN backend
HAMMING = "txtai_imagehash.ann.HammingIndex"

# Above this many rows, vectorconfig(approximate="auto") builds an approximate index (exact search measured
# 1.4-1.7 ms p50 at 1M rows on 2 cores, see benchmarks/scale.py)
LARGE = 10_000_000


def vectorconfig(algorithm="average", size=8, exif=False, approximate=False, count=None, backend="faiss"):
    """
    Creates the Embeddings configuration keys for a binary Hamming vector index of image hashes. Merge them into a
    configuration, e.g. txtai_imagehash.config(**vectorconfig()) or txtai_imagehash.config(vectors=True).

    Args:
        algorithm: hash algorithm, must match the pipeline that computes the `text` hashes
        size: hash size
        exif: apply EXIF orientation before hashing
        approximate: False (default) for an exact flat binary index (BFlat, a brute-force popcount scan),
                     True for an approximate inverted file index (BIVF, nprobe cells searched), "auto" for
                     approximate when count is above LARGE rows
        count: expected number of rows, sizes the approximate index
        backend: "faiss" (default), "hamming" for txtai_imagehash.ann.HammingIndex (exact, multi-index hashing:
                 sublinear for near-duplicate queries), or another txtai ANN backend with binary support such
                 as "pgvector"

    Returns:
        configuration dict
    """

    configuration = {
        "method": METHOD,
        "vectors": {"algorithm": algorithm, "size": size, "exif": exif},
        "quantize": 1,
        "backend": HAMMING if backend == "hamming" else backend,
    }

    if backend == "faiss":
        approximate = approximate if approximate != "auto" else bool(count and count > LARGE)
        if approximate:
            # IVF cells: txtai's rule of thumb (4 * sqrt(rows), at least 39 rows per cell) capped at 1,024 cells so
            # that training stays short, trained on a sample of at most 100,000 rows, 1/16 of the cells probed.
            # benchmarks/scale.py measures this configuration's recall.
            configuration["faiss"] = {"components": "BIVF"}
            if count:
                cells = max(min(round(4 * math.sqrt(count)), count // 39, 1024), 1)
                configuration["faiss"] = {"components": f"BIVF{cells}", "nprobe": max(cells // 16, 1), "sample": min(1.0, 100000 / count)}
        else:
            # Exact: txtai otherwise builds an approximate BIVF index above 5,000 rows
            configuration["faiss"] = {"components": "BFlat"}

    return configuration


def config(vectors=None, **overrides):
    """
    Creates an Embeddings configuration for an image hash index: content on, images stored as their original
    bytes, no text model, and the `distance`, `hamming` and `closest` SQL functions.

    Args:
        vectors: True for a binary Hamming vector index of the hashes (see vectorconfig()), or a dict of
                 vectorconfig() arguments, e.g. {"approximate": True, "count": 1000000}
        overrides: configuration keys to add or replace, e.g. path="sentence-transformers/..." for the
                   recipe's text model, or functions=[...] to register more SQL functions

    Returns:
        configuration dict
    """

    configuration = {
        "content": True,
        "objects": "txtai_imagehash.encoder.ImageEncoder",
        "defaults": False,
        "functions": [dict(function) for function in FUNCTIONS],
    }

    # Hash bit vectors (binary Hamming index)
    if vectors:
        overrides = {**vectorconfig(**(vectors if isinstance(vectors, dict) else {})), **overrides}

    # A vector model path means vectors are wanted: drop the no-model default
    if "path" in overrides or "method" in overrides:
        configuration.pop("defaults")

    configuration.update(overrides)
    return configuration


def hashes(images, workers=1, fast=False, pipeline=None, progress=False, batch=8, total=None):
    """
    Hashes a stream of images, yielding results in input order as they are ready, with bounded memory (see
    txtai_imagehash.hashing.batch.run). An image that cannot be read yields its ImageError (naming the file and the
    reason) in place of a hash, and the stream goes on.

    Exact mode (default) gives the hashes of txtai.pipeline.ImageHash bit for bit. Fast mode decodes JPEG files
    at reduced scale (Pillow draft mode: DCT scaling to 1/2-1/8 size, luma only for grey-level algorithms),
    which is several times faster on camera photos and gives the same or a nearly the same hash (a few bits
    apart at most, see benchmarks/). Other formats are hashed exactly in fast mode too.

    Args:
        images: iterable of image sources (path, PIL image, bytes, binary file object) or (id, source) pairs
        workers: number of worker processes; 1 (default) hashes in this process
        fast: use JPEG draft decoding
        pipeline: ImageHash pipeline, defaults to ImageHash()
        progress: show a tqdm progress bar
        batch: images per task sent to a worker
        total: number of images for the progress bar, defaults to len(images) when available

    Returns:
        generator of (id or source, hex hash or ImageError)
    """

    pipeline = pipeline if pipeline else ImageHash()
    return run(images, pipeline, workers, fast, progress, batch, total, grey=pipeline.algorithm in GREY)


def stream(images, function, errors=None, workers=1, fast=False, progress=False, grey=False, frames="first", limit=None):
    """
    Hashes images for indexing: each source is read once here (files safely, see txtai_imagehash.images.read), hashed
    by function (in worker processes when asked), and comes back with its stored object, the original file's bytes
    as a lazily opened PIL image (header only), so this process never decodes pixels. Images that cannot be read are
    skipped and reported (see txtai_imagehash.images.skip), so one broken file never stops a run.

    Args:
        images: iterable of images or (id, image) pairs, where an image is a path, PIL image, bytes or
                binary file object; ids default to 0..n-1 in input order
        function: picklable callable(source) -> hash value, e.g. an ImageHash pipeline
        errors: optional list that collects an ImageError for every skipped image
        workers: hash in this many worker processes, 1 (default) hashes here
        fast: hash with reduced-size decoding (see txtai_imagehash.images.draft)
        progress: show a progress bar
        grey: fast mode decodes grey levels only
        frames: "first" (default) hashes the first frame of a multi-frame image, as txtai does; "all" also hashes
                every other frame (up to txtai_imagehash.frames.MAX_FRAMES) as an item of its own, with id
                "ID#N" for frame N (path, bytes and file sources; a PIL image gives its current frame)
        limit: largest file read in bytes, defaults to txtai_imagehash.images.MAX_FILE_BYTES

    Returns:
        generator of (id, source, object, hash value), where source is a txtai_imagehash.frames.Frame of the input
        source for each frame of a multi-frame image with frames="all"
    """

    if frames not in ("first", "all"):
        raise ValueError(f'frames must be "first" or "all", not {frames!r}')

    def sources():
        for index, image in enumerate(images):
            uid, image = image if isinstance(image, tuple) else (index, image)
            try:
                storable(uid, image)
                data = image if isinstance(image, Image.Image) else read(image, limit)
            except ImageError as error:
                skip(error, errors)
                continue

            # The id carries what this process needs afterwards; only data goes to workers
            total = count(data, describe(image)) if frames == "all" and not isinstance(data, Image.Image) else 1
            if total == 1:
                yield (uid, image, data), data
            else:
                for number in range(total):
                    yield (uid if number == 0 else f"{uid}#{number}", Frame(image, number), data), Frame(data, number)

    total = len(images) if hasattr(images, "__len__") and frames == "first" else None
    for (uid, image, data), value in run(sources(), function, workers, fast, progress, total=total, grey=grey):
        if isinstance(value, ImageError):
            # Name the original source, not the bytes sent to the worker
            skip(ImageError(describe(image), value.reason), errors)
            continue

        if isinstance(data, Image.Image):
            obj = encoded(data)
        elif isinstance(image, Frame) and image.index:
            # A frame's row stores no image: its image's row has it
            obj = None
        else:
            obj = Image.open(BytesIO(data))
            obj.encoded = data
            obj.filename = path(image) or ""

        yield uid, image, obj, value


def storable(uid, image):
    """
    Checks that an image's id and path can be stored: content databases and JSON hold text (UTF-8), and a file name
    that is not valid UTF-8 (os.fsdecode gives it as surrogate escapes) would fail the insert of a whole batch.

    Args:
        uid: document id
        image: image source

    Raises:
        ImageError naming the file with its undecodable bytes escaped (\\xff)
    """

    for value in (uid, path(image)):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ImageError(printable(value), "file name is not valid UTF-8 (ids and paths are stored as text): rename the file to index it") from None


def printable(value):
    """
    Shows a file name that is not valid UTF-8 with its undecodable bytes escaped, as in "bad-\\xff.jpg".

    Args:
        value: string with surrogate escapes

    Returns:
        string that encodes as UTF-8
    """

    try:
        return os.fsencode(value).decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def documents(images, pipeline=None, errors=None, workers=1, fast=False, progress=False, frames="first", limit=None):
    """
    Streams (id, data, tags) documents for Embeddings.index/upsert: data holds the image object (stored as its
    original bytes), its hash as the `text` field and its path. Images that cannot be read are skipped and
    logged, so one broken file never stops a run.

    Args:
        images: iterable of images or (id, image) pairs, where an image is a path, PIL image, bytes or
                binary file object; ids default to 0..n-1 in input order
        pipeline: ImageHash pipeline, defaults to ImageHash()
        errors: optional list that collects an ImageError for every skipped image
        workers: hash in this many worker processes (see hashes()), 1 (default) hashes here
        fast: hash with reduced-size decoding (JPEG draft mode, HEIC thumbnails, RAW previews): faster, hashes may
              differ by a few bits
        progress: show a progress bar
        frames: "first" (default) indexes the first frame of a multi-frame image, as txtai does; "all" also indexes
                every other frame N of an animated GIF, WebP or PNG or a multi-page TIFF as a row of its own, with id
                "ID#N", data {"text": hash, "path": path, "frame_number": N} (the image's own row keeps the object
                and gets "frame_number": 0), so that a still taken from an animation finds it
        limit: largest file read in bytes, defaults to txtai_imagehash.images.MAX_FILE_BYTES

    Returns:
        generator of (id, {"object": image, "text": hash, "path": path}, None)
    """

    pipeline = pipeline if pipeline else ImageHash()
    grey = pipeline.algorithm in GREY
    for uid, image, obj, text in stream(images, pipeline, errors, workers, fast, progress, grey, frames, limit):
        number = image.index if isinstance(image, Frame) else 0
        data = {"text": text, "path": path(image)} if number else {"object": obj, "text": text, "path": path(image)}
        if frames == "all":
            data["frame_number"] = number
        yield uid, data, None
