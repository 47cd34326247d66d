"""
Hashing module: hashes streams of images in batches, in parallel worker processes, with an optional fast mode.
"""

import os

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO
from multiprocessing import get_all_start_methods, get_context

from PIL import Image
from tqdm.auto import tqdm

from .images import ImageError, describe, encoded, path, read, skip
from .pipeline import ImageHash


# Algorithms that hash grey levels only: fast mode decodes just the JPEG luma channel for them
GREY = ("average", "perceptual", "difference", "wavelet")

# Smallest side, in pixels, that fast mode decodes to (JPEG DCT scaling picks 1/2, 1/4 or 1/8 of full size)
DRAFT = 256

# Per-process pipeline cache for workers
PIPELINES = {}


def hashes(images, workers=1, fast=False, pipeline=None, progress=False, batch=8, total=None):
    """
    Hashes a stream of images, yielding results in input order as they are ready. Memory stays bounded: at most
    2 x workers batches are in flight, so a million files never sit in memory. An image that cannot be read
    yields its ImageError (naming the file and the reason) in place of a hash, and the stream goes on.

    Exact mode (default) gives the hashes of txtai.pipeline.ImageHash bit for bit. Fast mode decodes JPEG files
    at reduced scale (Pillow draft mode: DCT scaling to 1/2-1/8 size, luma only for grey-level algorithms),
    which is several times faster on camera photos and gives the same or a nearly the same hash (a few bits
    apart at most, see benchmarks/). Other formats are hashed exactly in fast mode too.

    Args:
        images: iterable of image sources (path, PIL image, bytes, binary file object) or (id, source) pairs
        workers: number of worker processes; 1 (default) hashes in this process
        fast: use JPEG draft decoding
        pipeline: ImageHash pipeline whose settings are used, defaults to ImageHash()
        progress: show a tqdm progress bar
        batch: images per task sent to a worker
        total: number of images for the progress bar, defaults to len(images) when available

    Returns:
        generator of (id or source, hex hash or ImageError)
    """

    pipeline = pipeline if pipeline else ImageHash()
    settings = {"algorithm": pipeline.algorithm, "size": pipeline.size, "exif": pipeline.exif}
    if getattr(pipeline, "normalize", False):
        settings["normalize"] = True

    total = total if total is not None else len(images) if hasattr(images, "__len__") else None
    with tqdm(total=total, disable=not progress, unit="img", desc="Hashing") as bar:
        for result in (stream(images, workers, fast, settings, batch) if workers > 1 else local(images, fast, pipeline)):
            bar.update(1)
            yield result


def local(images, fast, pipeline):
    """
    Hashes images in this process.

    Args:
        images: iterable of sources or (id, source) pairs
        fast: use JPEG draft decoding
        pipeline: ImageHash pipeline

    Returns:
        generator of (id or source, hash or ImageError)
    """

    for image in images:
        uid, source = image if isinstance(image, tuple) else (image, image)
        yield uid, hashone(source, fast, pipeline)


def stream(images, workers, fast, settings, batch):
    """
    Hashes images in worker processes, a bounded number of batches at a time.

    Args:
        images: iterable of sources or (id, source) pairs
        workers: number of processes
        fast: use JPEG draft decoding
        settings: ImageHash arguments
        batch: images per task

    Returns:
        generator of (id or source, hash or ImageError)
    """

    # Fork is fastest where available; workers only run this module's functions
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method)) as executor:
        pending = deque()
        for chunk in chunks(images, batch):
            ids = [uid for uid, _ in chunk]
            pending.append((ids, executor.submit(work, [portable(source) for _, source in chunk], fast, settings)))

            # Bound the work in flight
            while len(pending) >= 2 * workers:
                yield from collect(*pending.popleft())

        while pending:
            yield from collect(*pending.popleft())


def chunks(images, size):
    """
    Splits a stream of images into lists of (id, source).

    Args:
        images: iterable of sources or (id, source) pairs
        size: chunk size

    Returns:
        generator of lists
    """

    chunk = []
    for image in images:
        chunk.append(image if isinstance(image, tuple) else (image, image))
        if len(chunk) == size:
            yield chunk
            chunk = []

    if chunk:
        yield chunk


def portable(source):
    """
    Makes an image source picklable for a worker process: file objects are read into bytes.

    Args:
        source: image source

    Returns:
        picklable image source
    """

    if hasattr(source, "read") and not isinstance(source, Image.Image):
        try:
            return source.read()
        except OSError as error:
            return ImageError(describe(source), str(error))

    return source


def collect(ids, future):
    """
    Gets the results of one worker batch, rebuilding errors in this process.

    Args:
        ids: ids of the batch
        future: worker future

    Returns:
        generator of (id, hash or ImageError)
    """

    for uid, result in zip(ids, future.result()):
        yield uid, ImageError(*result) if isinstance(result, tuple) else result


def work(sources, fast, settings):
    """
    Worker task: hashes a batch of images.

    Args:
        sources: list of image sources
        fast: use JPEG draft decoding
        settings: ImageHash arguments

    Returns:
        list of hex hash or (source name, reason) for failures
    """

    key = tuple(sorted(settings.items()))
    if key not in PIPELINES:
        PIPELINES[key] = ImageHash(**settings)

    results = []
    for source in sources:
        result = source if isinstance(source, ImageError) else hashone(source, fast, PIPELINES[key])

        # ImageError pickles poorly (two-argument constructor): send its parts
        results.append((result.source, result.reason) if isinstance(result, ImageError) else result)

    return results


def hashone(source, fast, pipeline):
    """
    Hashes one image.

    Args:
        source: image source
        fast: use JPEG draft decoding
        pipeline: ImageHash pipeline

    Returns:
        hex hash or ImageError
    """

    try:
        if fast:
            image = draft(source, pipeline.algorithm)
            if image is not None:
                return pipeline(image)

        return pipeline(source)
    except ImageError as error:
        return error


def draft(source, algorithm, longest=None):
    """
    Opens a JPEG at reduced scale with Pillow's draft mode.

    Args:
        source: path, bytes or binary file object
        algorithm: hash algorithm, or "grey" for grey levels
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

        # Smallest DCT scale that keeps the short side at DRAFT pixels or more (or the longest side at longest)
        scale = longest / max(image.size) if longest else DRAFT / min(image.size)
        size = (max(round(image.width * scale), 1), max(round(image.height * scale), 1))
        grey = algorithm in GREY or algorithm == "grey"
        image.draft("L" if grey and image.mode in ("RGB", "L", "YCbCr") else image.mode, size)
        image.load()
        return image

    # pylint: disable=W0703
    except Exception:
        return None


def batchdocuments(images, pipeline=None, errors=None, workers=1, fast=False, progress=False):
    """
    Streams (id, data, tags) documents like txtai_imagehash.documents(), hashing in worker processes. Each file is
    read once here; the stored object is the file's original bytes as a lazily opened PIL image (header only), so
    this process never decodes pixels.

    Args:
        images: iterable of images or (id, image) pairs
        pipeline: ImageHash pipeline, defaults to ImageHash()
        errors: optional list that collects an ImageError for every skipped image
        workers: number of worker processes
        fast: use JPEG draft decoding (hashes may differ from exact ones by a few bits)
        progress: show a progress bar

    Returns:
        generator of (id, {"object": image, "text": hash, "path": path}, None)
    """

    def failed(error):
        skip(error, errors)

    def sources():
        for index, image in enumerate(images):
            uid, image = image if isinstance(image, tuple) else (index, image)
            try:
                data = image if isinstance(image, Image.Image) else read(image)
            except ImageError as error:
                failed(error)
                continue

            # The id carries what this process needs afterwards; only data goes to workers
            yield (uid, image, data), data

    total = len(images) if hasattr(images, "__len__") else None
    for (uid, image, data), value in hashes(sources(), workers, fast, pipeline, progress, total=total):
        if isinstance(value, ImageError):
            # Name the original source, not the bytes sent to the worker
            failed(ImageError(describe(image), value.reason))
            continue

        if isinstance(data, Image.Image):
            obj = encoded(data)
        else:
            obj = Image.open(BytesIO(data))
            obj.encoded = data
            obj.filename = path(image) or ""

        yield uid, {"object": obj, "text": value, "path": path(image)}, None
