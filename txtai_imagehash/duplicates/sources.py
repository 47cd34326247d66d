"""
Sources module: the images that de-duplication looks at, read from an index, a folder, a list of images or a dict of
hashes, one entry per file: symbolic and hard links to one file are merged into it as its aliases.
"""

import json
import logging
import os

from ..files import within
from ..hashing.codec import ishex
from ..hashing.variants import TRIMMED, issecond
from ..settings import read as settings

logger = logging.getLogger(__name__)

# Columns read from an index; missing ones read as NULL (older and plain recipe indexes have fewer)
COLUMNS = "indexid, id, text, path, image, variants, crops, frame, contrast, flatness, aspect, size, mtime, width, height, aliases"


class Images:
    """
    The images of a de-duplication, one per file, in columns: ids, paths, hashes (raw, trimmed and the 7 flips and
    rotations), file metadata, and the index they come from (for keypoints and stored objects).
    """

    def __init__(self, embeddings=None):
        """
        Creates an empty set of images.

        Args:
            embeddings: the index the images come from, or None for hashes given directly
        """

        self.embeddings = embeddings
        self.settings = settings(embeddings.config if embeddings is not None else None)
        self.ids, self.paths, self.hashes, self.trimmed, self.variants, self.crops, self.indexids, self.info = [], [], [], [], [], [], [], []

    def __len__(self):
        return len(self.ids)

    def add(self, uid, path, value, trimmed=None, variants=None, indexid=None, info=None, crops=None):
        """
        Adds one image.

        Args:
            uid: image id
            path: file path or None
            value: raw hex hash
            trimmed: hex hash inside uniform borders, or None
            variants: hex hashes of the 7 flips and rotations, or None
            indexid: index id of the image's row (its keypoints), or None
            info: dict of known metadata (width, height, bytes, mtime, frame, contrast, flatness, aspect, aliases)
            crops: {aspect ratio: hex hash of the image's centre cut to it}, or None
        """

        self.ids.append(uid)
        self.paths.append(path)
        self.hashes.append(value.lower())
        self.trimmed.append(trimmed.lower() if trimmed else None)
        self.variants.append([x.lower() for x in variants] if variants else [])
        self.crops.append({name: value.lower() for name, value in (crops or {}).items()})
        self.indexids.append(indexid)
        self.info.append(info or {})


def images(source):
    """
    Reads the images of a de-duplication source, merged by file identity.

    Args:
        source: Embeddings index, or a dict {id: hex hash}

    Returns:
        Images
    """

    if isinstance(source, dict):
        for uid, value in source.items():
            if not ishex(value):
                raise ValueError(f"Invalid hash {value!r} for id {uid!r}: expected a hex string")

        # Columns in bulk: a million hashes in a few seconds
        output, count = Images(), len(source)
        output.ids, output.hashes = list(source.keys()), [value.lower() for value in source.values()]
        output.paths, output.trimmed, output.indexids = [None] * count, [None] * count, [None] * count
        output.variants, output.crops, output.info = [[]] * count, [{}] * count, [{} for _ in range(count)]
        return output

    return identify(fromindex(source))


def fromindex(embeddings):
    """
    Reads the images of an Embeddings content database: the raw row of each image with its trimmed row, if any.
    Rows without a valid hex hash are skipped.

    Args:
        embeddings: Embeddings instance with content enabled

    Returns:
        Images
    """

    if not embeddings.database:
        raise ValueError("dedup needs an index with content enabled (content: true) to read hashes")

    output = Images(embeddings)
    count = embeddings.count()
    if not count:
        return output

    # path and the other fields are optional metadata: fall back to id and text when the database has no such columns
    try:
        rows = embeddings.search(f"select {COLUMNS} from txtai", count)
    except Exception:  # pylint: disable=W0703
        rows = embeddings.search("select indexid, id, text from txtai", count)

    # Second rows of a robust index belong to the image of their raw row: the hash inside a uniform border is the
    # image's trimmed hash; zooms are for search() (dedup finds crops by keypoints)
    trimmed = {}
    for row in rows:
        image = row.get("image")
        if str(row["id"]).endswith(TRIMMED) or (image is not None and str(image) != str(row["id"]) and not issecond(row["id"])):
            if ishex(row.get("text")):
                trimmed[str(image if image is not None else str(row["id"])[: -len(TRIMMED)])] = row["text"]

    for row in rows:
        image, value = row.get("image"), row.get("text")
        if issecond(row["id"]) or (image is not None and str(image) != str(row["id"])):
            continue

        if not ishex(value):
            logger.warning("Skipped row %s: text %r is not a hex hash", row["id"], value)
            continue

        variants = [x for x in (row.get("variants") or "").split(",") if ishex(x) and len(x) == len(value)]
        crops = dict(x.split("=", 1) for x in (row.get("crops") or "").split(",") if "=" in x)
        crops = {name: x for name, x in crops.items() if ishex(x) and len(x) == len(value)}
        fields = (("width", "width"), ("height", "height"), ("bytes", "size"), ("mtime", "mtime"), ("frame", "frame"), ("contrast", "contrast"), ("flatness", "flatness"), ("aspect", "aspect"), ("aliases", "aliases"))
        info = {key: parse(row.get(column)) for key, column in fields}
        info = {key: x for key, x in info.items() if x is not None}
        output.add(row["id"], row.get("path"), value, trimmed.get(str(row["id"])), variants, row.get("indexid"), info, crops)

    return output


def parse(value):
    """
    Reads a metadata value: JSON lists come back as text from some databases (PostgreSQL).

    Args:
        value: column value

    Returns:
        value
    """

    if isinstance(value, str) and value[:1] == "[":
        try:
            return json.loads(value)
        except ValueError:
            return None

    return value


def identify(images):
    """
    Merges images that are one file: rows whose paths are names of one file (same device and inode: symbolic links,
    hard links, a folder reached twice through a link) become one image, named by its real path, with the other names
    as its aliases. Each image records whether its path is a real name and the device and inode of its file.

    Args:
        images: Images

    Returns:
        Images, merged
    """

    first, drop = {}, set()
    for x, path in enumerate(images.paths):
        info = images.info[x]
        if not path:
            continue

        try:
            status = os.stat(path)
        except OSError:
            # Gone or unreadable: reported as stored, never moved (the move step checks again)
            continue

        info["identity"] = (status.st_dev, status.st_ino)
        info["real"] = os.path.realpath(path) == os.path.abspath(path)
        if info["identity"] not in first:
            first[info["identity"]] = x
            continue

        # Another name of a file seen before: keep the real name (then the smallest path) as the image
        y = first[info["identity"]]
        keep, other = (x, y) if (not info["real"], path) < (not images.info[y]["real"], images.paths[y]) else (y, x)
        first[info["identity"]] = keep
        drop.add(other)
        names = set(images.info[keep].get("aliases") or []) | set(images.info[other].get("aliases") or []) | {images.paths[other]}
        images.info[keep]["aliases"] = sorted(names - {images.paths[keep]})

    if not drop:
        return images

    output = Images(images.embeddings)
    for x, uid in enumerate(images.ids):
        if x not in drop:
            output.add(uid, images.paths[x], images.hashes[x], images.trimmed[x], images.variants[x], images.indexids[x], images.info[x], images.crops[x])

    return output


def reference(path, folders):
    """
    Checks if a file is below a reference folder: its files are always kept.

    Args:
        path: file path or None
        folders: real paths of the reference folders

    Returns:
        True if the file is below one of the folders
    """

    return bool(path) and any(within(os.path.realpath(path), folder) for folder in folders)
