"""
Dedup module: finds every group of near-duplicate images in an index, a folder or a list of images, and picks
a keeper per group. Nothing is ever deleted here: the output is a report.
"""

import json
import logging
import os

from io import BytesIO
from itertools import combinations
from math import comb

import numpy as np

from PIL import Image

from .algorithms import ishex
from .search import TRIMMED
from .hashing import hashes as stream
from .images import ImageError, describe, path as sourcepath, skip

logger = logging.getLogger(__name__)

# Largest key packed next to a 32-bit row number in one uint64 sort key
KEYBITS = 32


def dedup(source, threshold=None, workers=1, fast=False, progress=False, pipeline=None, errors=None):
    """
    Finds groups of near-duplicate images: every pair of images within threshold bits (Hamming distance) is
    linked and linked images form a group (connected components, so a group can chain images that are further
    apart than threshold). Each group names a keeper, chosen by:

      1. most pixels (width x height)
      2. then the largest file (bytes)
      3. then the smallest path (so the result is deterministic), then the smallest id

    Images with unknown size (hashes only) rank after those with a known size.

    Args:
        source: Embeddings index (reads id, text hash and path from its content database), a folder path
                (searched recursively), a list of image sources or (id, image) pairs, or a dict {id: hex hash}
        threshold: maximum Hamming distance in bits for a pair, defaults to default(nbits), 6 for 64-bit hashes
        workers: processes for hashing a folder or list (see txtai_imagehash.hashing.hashes)
        fast: use fast (JPEG draft) hashing for a folder or list
        progress: show a progress bar while hashing
        pipeline: ImageHash pipeline for a folder or list, defaults to ImageHash()
        errors: optional list that collects an ImageError for each image that could not be read

    Returns:
        list of groups, largest first, each {"keeper": id, "images": [{"id", "path", "hash", "width",
        "height", "bytes", "distance"}, ...]} with the keeper first and distance the Hamming bits to the keeper
    """

    ids, paths, hashes, objects = load(source, workers, fast, progress, pipeline, errors)
    if not ids:
        return []

    codes, nbits = encode(hashes)

    threshold = default(nbits) if threshold is None else threshold
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise ValueError(f"Invalid threshold {threshold!r}: expected a non-negative number of bits")

    labels = components(codes, threshold, nbits)
    return groups(labels, codes, ids, paths, hashes, objects)


def tojson(groups, indent=None):
    """
    Serializes dedup groups as JSON.

    Args:
        groups: output of dedup()
        indent: optional JSON indent

    Returns:
        JSON string
    """

    return json.dumps(groups, indent=indent, default=str)


def default(nbits):
    """
    Default pair threshold: about a tenth of the bits, 6 bits for a 64-bit hash.

    Args:
        nbits: bits per hash

    Returns:
        threshold in bits
    """

    return max(nbits // 10, 1)


def load(source, workers, fast, progress, pipeline, errors):
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


def encode(hashes):
    """
    Encodes hex hashes as rows of 64-bit words, the first word holding the first (up to 64) bits right aligned.

    Args:
        hashes: list of hex strings of equal length

    Returns:
        (codes as uint64 array of shape (n, words), bits per hash)
    """

    digits = {len(value) for value in hashes}
    if len(digits) > 1:
        raise ValueError(f"Hashes of different lengths ({sorted(digits)} hex digits): use one algorithm and size")

    digits = digits.pop()
    words = [(x, min(x + 16, digits)) for x in range(0, digits, 16)]
    codes = np.empty((len(hashes), len(words)), dtype=np.uint64)
    for column, (start, end) in enumerate(words):
        codes[:, column] = np.array([int(value[start:end], 16) for value in hashes], dtype=np.uint64)

    return codes, digits * 4


def popcount(codes, a, b):
    """
    Hamming distances between rows a and rows b of codes.

    Args:
        codes: uint64 array (n, words)
        a: row numbers
        b: row numbers

    Returns:
        int array of distances
    """

    return np.bitwise_count(codes[a] ^ codes[b]).sum(axis=1, dtype=np.int64)


def plan(count, threshold, bits):
    """
    Chooses the block layout for pigeonhole candidate search: bits are split into blocks, and two hashes within
    threshold bits differ in at most threshold blocks, so at least blocks - threshold blocks are equal. Every
    choice of that many blocks is one table (one sort). More blocks mean more tables with fewer candidates each.

    Args:
        count: number of hashes
        threshold: maximum distance
        bits: bits available for keys (at most 64)

    Returns:
        number of blocks
    """

    best, cost = None, None
    for blocks in range(threshold + 1, min(bits, threshold + 24) + 1):
        match = blocks - threshold
        tables = comb(blocks, match)
        keybits = min(bits * match / blocks, KEYBITS)

        # Cost model: a sort per table plus candidate pairs to verify (expected for uniform hashes)
        estimate = tables * (count + 3 * count * count / 2 ** (keybits + 1))
        if cost is None or estimate < cost:
            best, cost = blocks, estimate

    return best


def pairs(codes, threshold, nbits=64):
    """
    Finds all pairs of rows within threshold bits of each other, without comparing all pairs: multi-index
    hashing by the pigeonhole principle (see plan()), one sort per table, candidates verified by popcount.
    Codes longer than 64 bits are searched on their first 64 bits (pairs within threshold on all bits are within
    threshold on those too) and verified on all bits.

    Args:
        codes: uint64 array (n, words) from encode()
        threshold: maximum distance in bits
        nbits: bits per hash

    Returns:
        (a, b, distance) int arrays with a < b, each pair once
    """

    count = codes.shape[0]
    if count >= 2**32:
        raise ValueError("pairs: at most 2^32 - 1 hashes")

    found = []
    bits = min(nbits, 64)
    blocks = plan(count, threshold, bits)

    # Block boundaries over the key bits of the first word, counted from the least significant bit
    bounds = np.linspace(0, bits, blocks + 1).round().astype(int)
    first = codes[:, 0]
    rows = np.arange(count, dtype=np.uint64)

    for table in combinations(range(blocks), blocks - threshold):
        # Pack the table's blocks into a key of up to KEYBITS bits: fewer key bits only add candidates
        key, width = np.zeros(count, dtype=np.uint64), 0
        for block in table:
            start, size = int(bounds[block]), int(min(bounds[block + 1] - bounds[block], KEYBITS - width))
            if size <= 0:
                break
            key = (key << np.uint64(size)) | ((first >> np.uint64(start)) & np.uint64((1 << size) - 1))
            width += size

        found.append(candidates(np.sort((key << np.uint64(32)) | rows), codes, threshold))

    # Each pair once
    found = np.concatenate(found) if found else np.empty(0, dtype=np.uint64)
    found = np.unique(found)
    a, b = (found >> np.uint64(32)).astype(np.int64), (found & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return a, b, popcount(codes, a, b)


def candidates(ordered, codes, threshold):
    """
    Verifies candidate pairs: rows whose keys are equal in one table, i.e. equal high 32 bits in a sorted array.

    Args:
        ordered: sorted uint64 array of key << 32 | row
        codes: uint64 array (n, words)
        threshold: maximum distance

    Returns:
        uint64 array of a << 32 | b for verified pairs, a < b
    """

    keys, rows = ordered >> np.uint64(32), (ordered & np.uint64(0xFFFFFFFF)).astype(np.int64)
    output = []

    # Offset by offset through runs of equal keys: a position only stays active while its key still matches
    active, offset = np.flatnonzero(keys[1:] == keys[:-1]), 1
    while active.size:
        a, b = rows[active], rows[active + offset]
        close = popcount(codes, a, b) <= threshold
        a, b = a[close], b[close]
        output.append((np.minimum(a, b).astype(np.uint64) << np.uint64(32)) | np.maximum(a, b).astype(np.uint64))

        active = active[active + offset + 1 < len(keys)]
        active = active[keys[active + offset + 1] == keys[active]]
        offset += 1

    return np.concatenate(output) if output else np.empty(0, dtype=np.uint64)


def components(codes, threshold, nbits=64):
    """
    Labels connected components of the near-duplicate graph. Identical hashes are merged first (so large
    groups of exact copies cost nothing), then pairs() links the distinct hashes, and a vectorized union-find
    (min-label propagation with pointer jumping) joins them.

    Args:
        codes: uint64 array (n, words)
        threshold: maximum distance in bits
        nbits: bits per hash

    Returns:
        int array of component labels, one per row
    """

    unique, inverse = np.unique(codes, axis=0, return_inverse=True) if codes.shape[1] > 1 else np.unique(codes[:, 0], return_inverse=True)
    unique = unique.reshape(len(unique), -1)

    labels = np.arange(len(unique))
    if threshold > 0 and len(unique) > 1:
        a, b, _ = pairs(unique, threshold, nbits)
        labels = union(labels, a, b)

    return labels[inverse.reshape(-1)]


def union(labels, a, b):
    """
    Vectorized union-find: every node ends up labeled with the smallest node of its component.

    Args:
        labels: initial labels (arange)
        a: edge sources
        b: edge targets

    Returns:
        component labels
    """

    labels = labels.copy()
    while a.size:
        # Hook: both ends of every edge take the smaller root
        low = np.minimum(labels[a], labels[b])
        np.minimum.at(labels, labels[a], low)
        np.minimum.at(labels, labels[b], low)

        # Pointer jumping until every node points at a root
        while True:
            jumped = labels[labels]
            if (jumped == labels).all():
                break
            labels = jumped

        # Edges already inside one component are done
        keep = labels[a] != labels[b]
        a, b = a[keep], b[keep]

    return labels


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
