"""
Index module: Embeddings configuration and document streams for image hash indexes.
"""

import logging

from .images import ImageError, encoded, path
from .pipeline import ImageHash

logger = logging.getLogger(__name__)

# SQL functions, registered by dotted path under explicit names so that they survive save() and load()
FUNCTIONS = [
    {"name": "distance", "function": "txtai_imagehash.distance", "deterministic": True},
    {"name": "hamming", "function": "txtai_imagehash.hamming", "deterministic": True},
]


def config(**overrides):
    """
    Creates an Embeddings configuration for an image hash index: content on, images stored as their original
    bytes, no text model, and the `distance` and `hamming` SQL functions.

    Args:
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

    # A vector model path means vectors are wanted: drop the no-model default
    if "path" in overrides or "method" in overrides:
        configuration.pop("defaults")

    configuration.update(overrides)
    return configuration


def documents(images, pipeline=None, errors=None):
    """
    Streams (id, data, tags) documents for Embeddings.index/upsert: data holds the image object (stored as its
    original bytes), its hash as the `text` field and its path. Images that cannot be read are skipped and
    logged, so one broken file never stops a run.

    Args:
        images: iterable of images or (id, image) pairs, where an image is a path, PIL image, bytes or
                binary file object; ids default to 0..n-1 in input order
        pipeline: ImageHash pipeline, defaults to ImageHash()
        errors: optional list that collects an ImageError for every skipped image

    Returns:
        generator of (id, {"object": image, "text": hash, "path": path}, None)
    """

    pipeline = pipeline if pipeline else ImageHash()

    for index, image in enumerate(images):
        uid, image = image if isinstance(image, tuple) else (index, image)

        try:
            obj = encoded(image, pipeline.exif)
            text = pipeline(obj)
        except ImageError as error:
            logger.warning("Skipped image: %s", error)
            if errors is not None:
                errors.append(error)
            continue

        yield uid, {"object": obj, "text": text, "path": path(image)}, None
