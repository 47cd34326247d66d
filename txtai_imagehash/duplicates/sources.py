"""
Sources module: the ids, paths and hashes that de-duplication reads from an index, a folder, a list of images or a
dict of hashes.
"""

import logging
import os

from PIL import Image

from ..hashing.codec import ishex
from ..hashing.variants import TRIMMED
from ..images import ImageError, path as sourcepath, skip
from ..index import hashes as stream

logger = logging.getLogger(__name__)


def records(source, workers, fast, progress, pipeline, errors):
    """
    Reads ids, paths and hashes from a dedup source.

    Returns:
        (ids, paths, hashes, objects) where objects is the index or a dict {id: source} to read image metadata
    """

    # Embeddings index
    if hasattr(source, "search") and hasattr(source, "config"):
        records = fromindex(source)
        ids, paths, hashes = (list(x) for x in zip(*records)) if records else ([], [], [])
        return ids, paths, hashes, source

    # Hashes given directly
    if isinstance(source, dict):
        for uid, value in source.items():
            if not ishex(value):
                raise ValueError(f"Invalid hash {value!r} for id {uid!r}: expected a hex string")
        return list(source.keys()), [None] * len(source), [value.lower() for value in source.values()], None

    # Folder or list of images: hash them
    images = list(files(source)) if isinstance(source, (str, os.PathLike)) else list(source)
    pairs = [image if isinstance(image, tuple) else (sourcepath(image) or x, image) for x, image in enumerate(images)]
    sources = dict(pairs)

    ids, paths, values = [], [], []
    for uid, value in stream(pairs, workers=workers, fast=fast, progress=progress, pipeline=pipeline):
        if isinstance(value, ImageError):
            skip(value, errors)
        else:
            ids.append(uid)
            paths.append(sourcepath(sources[uid]))
            values.append(value)

    return ids, paths, values, sources


def fromindex(embeddings):
    """
    Reads (id, path, hash) from an Embeddings content database. Rows without a valid hex hash are skipped.

    Args:
        embeddings: Embeddings instance with content enabled

    Returns:
        list of (id, path, hash)
    """

    if not embeddings.database:
        raise ValueError("dedup needs an index with content enabled (content: true) to read hashes")

    count = embeddings.count()
    if not count:
        return []

    # path is optional metadata: fall back to id and text when the index has no path column
    try:
        rows = embeddings.search("select id, text, path from txtai", count)
    except Exception:  # pylint: disable=W0703
        rows = embeddings.search("select id, text from txtai", count)

    records = []
    for row in rows:
        value = row.get("text")

        # Second rows of txtai_imagehash.build() (hash inside a uniform border) belong to the image of their raw row
        if str(row["id"]).endswith(TRIMMED):
            continue

        if ishex(value):
            records.append((row["id"], row.get("path"), value.lower()))
        else:
            logger.warning("Skipped row %s: text %r is not a hex hash", row["id"], value)

    return records


def files(folder):
    """
    Lists image files in a folder, recursively, in sorted order: files with an extension Pillow knows.

    Args:
        folder: folder path

    Returns:
        generator of paths
    """

    if not os.path.isdir(folder):
        raise ImageError(os.fspath(folder), "not a folder")

    Image.init()
    extensions = {extension.lower() for extension in Image.registered_extensions()}
    for directory, subdirs, names in os.walk(folder):
        subdirs.sort()
        for name in sorted(names):
            if os.path.splitext(name)[1].lower() in extensions:
                yield os.path.join(directory, name)
