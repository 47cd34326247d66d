"""
Batch module: applies a hash function to a stream of images in batches, in parallel worker processes, with an
optional fast mode (reduced-scale JPEG decoding).
"""

from collections import deque
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

from PIL import Image
from tqdm.auto import tqdm

from ..images import ImageError, describe, draft, read

# Algorithms that hash grey levels only: fast mode decodes just the JPEG luma channel for them
GREY = ("average", "perceptual", "difference", "wavelet")


def run(images, function, workers=1, fast=False, progress=False, batch=8, total=None, grey=False):
    """
    Applies a hash function to a stream of images, yielding results in input order as they are ready. Memory stays
    bounded: at most 2 x workers batches are in flight, so a million files never sit in memory. An image that
    cannot be read yields its ImageError (naming the source and the reason) in place of a result, and the stream
    goes on.

    Fast mode decodes JPEG files at reduced scale (see txtai_imagehash.images.draft) before the function sees
    them; other formats are passed as they are.

    Args:
        images: iterable of image sources (path, PIL image, bytes, binary file object) or (id, source) pairs
        function: picklable callable(source) -> result, raising ImageError for an image it cannot read
        workers: number of worker processes; 1 (default) runs in this process
        fast: use JPEG draft decoding
        progress: show a tqdm progress bar
        batch: images per task sent to a worker
        total: number of images for the progress bar, defaults to len(images) when available
        grey: fast mode decodes grey levels only

    Returns:
        generator of (id or source, result or ImageError)
    """

    total = total if total is not None else len(images) if hasattr(images, "__len__") else None
    with tqdm(total=total, disable=not progress, unit="img", desc="Hashing") as bar:
        results = parallel(images, function, workers, fast, grey, batch) if workers > 1 else local(images, function, fast, grey)
        for result in results:
            bar.update(1)
            yield result


def local(images, function, fast, grey):
    """
    Applies the function in this process.

    Args:
        images: iterable of sources or (id, source) pairs
        function: hash function
        fast: use JPEG draft decoding
        grey: decode grey levels only in fast mode

    Returns:
        generator of (id or source, result or ImageError)
    """

    for image in images:
        uid, source = image if isinstance(image, tuple) else (image, image)
        yield uid, apply(function, source, fast, grey)


def parallel(images, function, workers, fast, grey, batch):
    """
    Applies the function in worker processes, a bounded number of batches at a time.

    Args:
        images: iterable of sources or (id, source) pairs
        function: hash function
        workers: number of processes
        fast: use JPEG draft decoding
        grey: decode grey levels only in fast mode
        batch: images per task

    Returns:
        generator of (id or source, result or ImageError)
    """

    # Fork is fastest where available; workers only run this module's functions
    method = "fork" if "fork" in get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context(method)) as executor:
        pending = deque()
        for chunk in chunks(images, batch):
            ids = [uid for uid, _ in chunk]
            pending.append((ids, executor.submit(work, [portable(source) for _, source in chunk], function, fast, grey)))

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
    Makes an image source picklable for a worker process: file objects are read into bytes, up to the file size limit.

    Args:
        source: image source

    Returns:
        picklable image source
    """

    if hasattr(source, "read") and not isinstance(source, Image.Image):
        try:
            # At most txtai_imagehash.images.MAX_FILE_BYTES
            return read(source)
        except ImageError as error:
            return error

    return source


def collect(ids, future):
    """
    Gets the results of one worker batch, rebuilding errors in this process.

    Args:
        ids: ids of the batch
        future: worker future

    Returns:
        generator of (id, result or ImageError)
    """

    for uid, result in zip(ids, future.result()):
        yield uid, ImageError(*result.args) if isinstance(result, Failure) else result


class Failure:
    """
    An ImageError sent back from a worker: ImageError pickles poorly (two-argument constructor).
    """

    def __init__(self, error):
        self.args = (error.source, error.reason)


def work(sources, function, fast, grey):
    """
    Worker task: applies the function to a batch of images.

    Args:
        sources: list of image sources
        function: hash function
        fast: use JPEG draft decoding
        grey: decode grey levels only in fast mode

    Returns:
        list of results, a Failure for each image that could not be read
    """

    results = []
    for source in sources:
        result = source if isinstance(source, ImageError) else apply(function, source, fast, grey)
        results.append(Failure(result) if isinstance(result, ImageError) else result)

    return results


def apply(function, source, fast, grey):
    """
    Applies the function to one image.

    Args:
        function: hash function
        source: image source
        fast: use JPEG draft decoding
        grey: decode grey levels only in fast mode

    Returns:
        result, or ImageError
    """

    try:
        image = draft(source, grey) if fast else None
        return function(image if image is not None else source)
    except ImageError as error:
        return error
    except (OSError, ValueError) as error:
        # Hashing failed on a decoded image: still only this image fails
        return ImageError(describe(source), f"cannot hash image: {error}")
