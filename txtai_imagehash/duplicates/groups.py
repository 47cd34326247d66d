"""
Groups module: de-duplication groups from component labels, with image metadata, a keeper per group and distances
to it.
"""

import logging
import os

from io import BytesIO

import numpy as np

from PIL import Image

from ..images import describe
from .pairs import popcount

logger = logging.getLogger(__name__)


def groups(labels, codes, ids, paths, hashes, objects):
    """
    Builds the dedup groups from component labels: metadata for every member, a keeper, distances to the keeper.

    Returns:
        list of groups, largest first, then by keeper id
    """

    # Components with more than one image
    values, counts = np.unique(labels, return_counts=True)
    rows = np.flatnonzero(np.isin(labels, values[counts > 1]))
    order = rows[np.argsort(labels[rows], kind="stable")]
    members = np.split(order, np.flatnonzero(np.diff(labels[order])) + 1) if len(order) else []

    # Image metadata for group members only
    rows = [int(x) for group in members for x in group]
    info = metadata([ids[x] for x in rows], [paths[x] for x in rows], objects)
    info = dict(zip(rows, info))

    output = []
    for group in members:
        images = [{"id": ids[x], "path": paths[x], "hash": hashes[x], **info[int(x)]} for x in group]
        x = min(range(len(group)), key=lambda y: rank(images[y]))
        keeper = group[x]

        distances = popcount(codes, np.full(len(group), keeper), group)
        for image, distance in zip(images, distances.tolist()):
            image["distance"] = distance

        images = [images[x]] + sorted((image for y, image in enumerate(images) if y != x), key=lambda i: (i["distance"], str(i["path"]), str(i["id"])))
        output.append({"keeper": images[0]["id"], "images": images})

    output.sort(key=lambda group: (-len(group["images"]), str(group["keeper"])))
    return output


def rank(image):
    """
    Keeper rule as a sort key, best first: most pixels, then most bytes, then smallest path, then smallest id.

    Args:
        image: image dict

    Returns:
        sort key
    """

    pixels = image["width"] * image["height"] if image["width"] and image["height"] else -1
    size = image["bytes"] if image["bytes"] is not None else -1
    return (-pixels, -size, image["path"] is None, str(image["path"] or ""), str(image["id"]))


def metadata(ids, paths, objects):
    """
    Reads width, height and file size of images: from the file when the path exists, else from the object stored
    in the index (or the in-memory source). Only image headers are read.

    Args:
        ids: list of ids
        paths: list of paths (or None)
        objects: Embeddings index, dict {id: image source}, or None

    Returns:
        list of {"width", "height", "bytes"} dicts
    """

    output = [{"width": None, "height": None, "bytes": None} for _ in ids]

    missing = []
    for x, path in enumerate(paths):
        if path and os.path.isfile(path):
            output[x].update(header(path, path))
        else:
            missing.append(x)

    if missing and isinstance(objects, dict):
        for x in missing:
            output[x].update(header(objects.get(ids[x]), describe(objects.get(ids[x]))))

    elif missing and objects is not None and hasattr(objects, "search"):
        stored = stored_objects(objects, [ids[x] for x in missing])
        for x in missing:
            if stored.get(ids[x]) is not None:
                output[x].update(header(stored[ids[x]], f"index id {ids[x]}"))

    return output


def stored_objects(embeddings, ids, batch=500):
    """
    Reads stored image objects from an index by id.

    Returns:
        dict {id: PIL image}
    """

    objects = {}
    if not embeddings.config.get("objects"):
        return objects

    for x in range(0, len(ids), batch):
        chunk = ids[x : x + batch]
        # Ids are bound as parameters, never pasted into SQL
        parameters = {f"p{y}": str(uid) for y, uid in enumerate(chunk)}
        where = ", ".join(f":{name}" for name in parameters)
        for row in embeddings.search(f"select id, object from txtai where id in ({where})", len(chunk), parameters=parameters):
            objects[row["id"]] = row.get("object")

    return objects


def header(source, name):
    """
    Reads an image's size from its header and its encoded size in bytes.

    Args:
        source: path, PIL image, bytes or binary file object
        name: name for log messages

    Returns:
        dict with width, height, bytes (missing values are None)
    """

    info = {}
    try:
        if isinstance(source, Image.Image):
            info["width"], info["height"] = source.size
            data = getattr(source, "encoded", None)
            fp = getattr(source, "fp", None)
            if data:
                info["bytes"] = len(data)
            elif hasattr(fp, "getbuffer"):
                info["bytes"] = fp.getbuffer().nbytes
            elif getattr(source, "filename", None) and os.path.isfile(source.filename):
                info["bytes"] = os.path.getsize(source.filename)
        elif isinstance(source, (str, os.PathLike)):
            info["bytes"] = os.path.getsize(source)
            with Image.open(source) as image:
                info["width"], info["height"] = image.size
        elif isinstance(source, (bytes, bytearray, memoryview)):
            info["bytes"] = len(source)
            with Image.open(BytesIO(bytes(source))) as image:
                info["width"], info["height"] = image.size
    except (OSError, ValueError, SyntaxError) as error:
        logger.warning("Cannot read size of %s: %s", name, error)

    return info
