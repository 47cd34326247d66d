"""
Index module: Embeddings configuration and document streams for image hash indexes.
"""

from .images import ImageError, encoded, path, skip
from .hashing import batchdocuments
from .pipeline import ImageHash
from .vectors import vectorconfig


# SQL functions, registered by dotted path under explicit names so that they survive save() and load()
FUNCTIONS = [
    {"name": "distance", "function": "txtai_imagehash.distance", "deterministic": True},
    {"name": "hamming", "function": "txtai_imagehash.hamming", "deterministic": True},
]


def config(vectors=None, **overrides):
    """
    Creates an Embeddings configuration for an image hash index: content on, images stored as their original
    bytes, no text model, and the `distance` and `hamming` SQL functions.

    Args:
        vectors: True for a binary Hamming vector index of the hashes (see txtai_imagehash.vectors.vectorconfig),
                 or a dict of vectorconfig() arguments, e.g. {"approximate": True, "count": 1000000}
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


def documents(images, pipeline=None, errors=None, workers=1, fast=False, progress=False):
    """
    Streams (id, data, tags) documents for Embeddings.index/upsert: data holds the image object (stored as its
    original bytes), its hash as the `text` field and its path. Images that cannot be read are skipped and
    logged, so one broken file never stops a run.

    Args:
        images: iterable of images or (id, image) pairs, where an image is a path, PIL image, bytes or
                binary file object; ids default to 0..n-1 in input order
        pipeline: ImageHash pipeline, defaults to ImageHash()
        errors: optional list that collects an ImageError for every skipped image
        workers: hash in this many worker processes (see txtai_imagehash.hashing.hashes), 1 (default) hashes here
        fast: hash JPEG files with reduced-scale (draft) decoding: faster, hashes may differ by a few bits
        progress: show a progress bar

    Returns:
        generator of (id, {"object": image, "text": hash, "path": path}, None)
    """

    pipeline = pipeline if pipeline else ImageHash()

    # Batched, parallel or fast hashing
    if workers > 1 or fast or progress:
        yield from batchdocuments(images, pipeline, errors, workers, fast, progress)
        return

    for index, image in enumerate(images):
        uid, image = image if isinstance(image, tuple) else (index, image)

        try:
            obj = encoded(image)
            text = pipeline(obj)
        except ImageError as error:
            skip(error, errors)
            continue

        yield uid, {"object": obj, "text": text, "path": path(image)}, None
