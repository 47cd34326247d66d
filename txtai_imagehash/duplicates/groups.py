"""
Groups module: de-duplication groups without chains. Images linked by accepted evidence form components; in each,
the best image by the keeper rule keeps, and every other member is a near-duplicate of that keeper itself (checked
directly when the component only linked it through others), so two different pictures never meet through a shared
crop. Each member says why it is a duplicate (match kind, hash distance, keypoint inliers, the share of the keeper a
crop covers).
"""

import logging
import os

from io import BytesIO

import numpy as np

from PIL import Image


from ..images import opened
from ..keypoints.verify import turned
from .evidence import CROP, FLIPPED, TRIMMED
from .pairs import union
from .sources import reference

logger = logging.getLogger(__name__)

# Keeper rules: most pixels, largest file, oldest or newest file first (ties: then pixels, size, path, id)
KEEP = ("pixels", "size", "oldest", "newest")

# Share of the keeper a match must cover to be the same picture, not a crop
WHOLE = 0.9

# Members checked directly against a keeper per round when the evidence only linked them through others
CHECKS = 256


def groups(images, evidence, keep="pixels", references=()):
    """
    Builds de-duplication groups.

    Args:
        images: txtai_imagehash.duplicates.sources.Images
        evidence: txtai_imagehash.duplicates.evidence.Evidence with its pairs found
        keep: keeper rule, one of KEEP
        references: real paths of reference folders: their files are always kept

    Returns:
        list of groups, largest first, each {"keeper": id, "images": [keeper, members...]}
    """

    accepted = np.array(evidence.accepted(), dtype=np.int64).reshape(-1, 2)
    labels = union(np.arange(len(images)), accepted[:, 0], accepted[:, 1])

    # Components of more than one image, by one sort of their members
    values, counts = np.unique(labels, return_counts=True)
    rows = np.flatnonzero(np.isin(labels, values[counts > 1]))
    order = rows[np.argsort(labels[rows], kind="stable")]
    members = [part.tolist() for part in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1)] if len(order) else []

    # Image metadata for group members only
    rows = [x for component in members for x in component]
    info = dict(zip(rows, metadata([images.ids[x] for x in rows], [images.paths[x] for x in rows], [images.info[x] for x in rows], images.embeddings)))

    keys = {x: rank(images, x, info[x], keep, references) for x in rows}

    output = []
    for component in members:
        for keeper, linked in stars(sorted(component, key=keys.get), evidence):
            output.append(assemble(images, evidence, keeper, linked, info, references))

    output.sort(key=lambda group: (-len(group["images"]), str(group["keeper"])))
    return output


def stars(component, evidence):
    """
    Splits a component into groups whose members are each a near-duplicate of their keeper.

    Args:
        component: images, best keeper first
        evidence: Evidence

    Returns:
        list of (keeper, [members])
    """

    output, remaining = [], list(component)
    while len(remaining) > 1:
        keeper, others = remaining[0], remaining[1:]
        linked = [other for x, other in enumerate(others) if x < CHECKS and evidence.accept(min(keeper, other), max(keeper, other), evidence.get(keeper, other))]
        if linked:
            output.append((keeper, linked))

        chosen = set(linked)
        remaining = [other for other in others if other not in chosen]

    return output


def rank(images, x, info, keep, references):
    """
    Keeper rule as a sort key, best first: files below a reference folder, then real files (not only reached
    through a link that leads out of the folder), then the rule (pixels, size, oldest, newest), then the others of
    pixels and size, then the smallest path, then the smallest id. Unknown sizes and dates rank last.

    Args:
        images: Images
        x: image
        info: {"width", "height", "bytes"} of the image
        keep: keeper rule
        references: real paths of reference folders

    Returns:
        sort key
    """

    if keep not in KEEP:
        raise ValueError(f"Invalid keep {keep!r}: expected one of {', '.join(KEEP)}")

    path, stored = images.paths[x], images.info[x]
    pixels = info["width"] * info["height"] if info["width"] and info["height"] else -1
    size = info["bytes"] if info["bytes"] is not None else -1
    mtime = stored.get("mtime")

    order = {
        "pixels": (-pixels, -size),
        "size": (-size, -pixels),
        "oldest": (mtime if mtime is not None else float("inf"), -pixels, -size),
        "newest": (-mtime if mtime is not None else float("inf"), -pixels, -size),
    }[keep]

    return (not reference(path, references), not stored.get("real", True)) + order + (path is None, str(path or ""), str(images.ids[x]))


def assemble(images, evidence, keeper, members, info, references):
    """
    Describes a group: the keeper and each member with its metadata, match kind and evidence.

    Args:
        images: Images
        evidence: Evidence
        keeper: keeper image
        members: member images
        info: {image: {"width", "height", "bytes"}}
        references: real paths of reference folders

    Returns:
        {"keeper": id, "images": [...]}, the keeper first, then members by distance, then path
    """

    def entry(x):
        value = {"id": images.ids[x], "path": images.paths[x], "hash": images.hashes[x], **info[x]}
        if images.info[x].get("aliases"):
            value["aliases"] = list(images.info[x]["aliases"])
        if references and reference(images.paths[x], references):
            value["reference"] = True
        return value

    first = {**entry(keeper), "distance": 0, "match": "keeper", "inliers": 0}
    output = []
    for x in members:
        link = evidence.get(x, keeper)
        output.append({**entry(x), **match(images, evidence, x, keeper, link)})

    output.sort(key=lambda image: (image["distance"] if image["distance"] is not None else float("inf"), str(image["path"]), str(image["id"])))
    return {"keeper": images.ids[keeper], "images": [first] + output}


def match(images, evidence, x, keeper, link):
    """
    Says why an image is a duplicate of its keeper.

    Args:
        images: Images
        evidence: Evidence
        x: member image
        keeper: keeper image
        link: Link from the member to the keeper

    Returns:
        {"match", "distance", "inliers"} plus "share" and "region" for keypoint matches with known frames
    """

    output = {"distance": link.distance, "inliers": int(link.inliers)}
    share, region = coverage(images.info[x].get("frame"), images.info[keeper].get("frame"), link.matrix)
    if link.kind == CROP and link.distance is not None and (share is None or not link.inliers):
        # The member is a centre cut of the keeper, or the keeper of the member (then the member shows all of it)
        share, region = cut(images.info[x].get("aspect"), images.info[keeper].get("aspect")) if link.cut == keeper else (1.0, [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    if share is not None:
        output["share"], output["region"] = round(share, 3), region

    if evidence.identical(x, keeper):
        kind = "identical"
    elif turned(link.matrix) or (link.kind == FLIPPED and link.distance is not None and not link.inliers):
        kind = "flipped"
    elif link.kind == TRIMMED and link.distance is not None:
        kind = "border"
    elif (share is not None and share < WHOLE) or (link.kind == CROP and link.distance is not None):
        kind = "crop"
    elif link.distance is not None and link.distance <= evidence.rule.strict:
        kind = "same"
    else:
        kind = "edited"

    return {"match": kind, **output}


def coverage(frame, target, matrix):
    """
    The region of a keeper that a member shows: the member's frame mapped by the keypoint fit into the keeper's.

    Args:
        frame: [width, height] of the member's keypoint frame, or None
        target: [width, height] of the keeper's keypoint frame, or None
        matrix: 2 x 3 fit from member positions to keeper positions, or None

    Returns:
        (share of the keeper's area covered, region as 4 [x, y] corners in 0..1 of the keeper), or (None, None)
    """

    if matrix is None or not frame or not target:
        return None, None

    width, height = frame
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float64)
    mapped = corners @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]
    scaled = np.clip(mapped / np.array(target, dtype=np.float64), 0.0, 1.0)

    # Shoelace area of the clipped quadrilateral (clipping each corner keeps a good estimate for the near-rectangles
    # a crop maps to)
    x, y = scaled[:, 0], scaled[:, 1]
    share = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    return float(min(share, 1.0)), [[round(float(a), 4), round(float(b), 4)] for a, b in scaled]


def cut(aspect, target):
    """
    The region of a keeper that a centre cut of it to another aspect ratio shows.

    Args:
        aspect: aspect ratio of the member
        target: aspect ratio of the keeper

    Returns:
        (share of the keeper's area, region as 4 [x, y] corners in 0..1 of the keeper), or (None, None)
    """

    if not aspect or not target:
        return None, None

    # A narrower member keeps the keeper's full height: the share is the ratio of widths, and conversely
    share = min(aspect / target, target / aspect)
    if aspect < target:
        left = (1 - share) / 2
        region = [[left, 0.0], [1 - left, 0.0], [1 - left, 1.0], [left, 1.0]]
    else:
        top = (1 - share) / 2
        region = [[0.0, top], [1.0, top], [1.0, 1 - top], [0.0, 1 - top]]

    return share, [[round(a, 4), round(b, 4)] for a, b in region]


def metadata(ids, paths, stored, objects):
    """
    Reads width, height and file size of images: as stored in the index rows when they are, else from the file when
    the path exists, else from the object stored in the index. Only image headers are read.

    Args:
        ids: list of ids
        paths: list of paths (or None)
        stored: list of dicts of metadata the index rows hold
        objects: Embeddings index, or None

    Returns:
        list of {"width", "height", "bytes"} dicts
    """

    output = [{key: info.get(key) for key in ("width", "height", "bytes")} for info in stored]

    missing = []
    for x, path in enumerate(paths):
        if all(output[x][key] is not None for key in ("width", "height", "bytes")):
            continue
        if path and os.path.isfile(path):
            output[x].update(header(path, path))
        else:
            missing.append(x)

    if missing and objects is not None:
        positions = {}
        for x in missing:
            positions.setdefault(ids[x], []).append(x)

        # One batch of objects in memory at a time
        for uid, value in stored_objects(objects, list(positions)):
            if value is not None:
                size = header(value, f"index id {uid}")
                for x in positions.get(uid, []):
                    output[x].update(size)

    return output


def stored_objects(embeddings, ids, batch=500):
    """
    Reads stored image objects from an index by id, a batch at a time.

    Args:
        embeddings: Embeddings index
        ids: list of ids
        batch: ids read per query

    Returns:
        generator of (id, object), objects as the index returns them (PIL images)
    """

    if not embeddings.config.get("objects"):
        return

    for x in range(0, len(ids), batch):
        chunk = ids[x : x + batch]
        # Ids are bound as parameters, never pasted into SQL
        parameters = {f"p{y}": str(uid) for y, uid in enumerate(chunk)}
        where = ", ".join(f":{name}" for name in parameters)
        for row in embeddings.search(f"select id, object from txtai where id in ({where})", len(chunk), parameters=parameters):
            yield row["id"], row.get("object")


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
            # Regular files only, within the size limit: a path swapped for a FIFO never blocks
            with opened(source) as f, Image.open(f) as image:
                info["bytes"] = os.fstat(f.fileno()).st_size
                info["width"], info["height"] = image.size
        elif isinstance(source, (bytes, bytearray, memoryview)):
            info["bytes"] = len(source)
            with Image.open(BytesIO(bytes(source))) as image:
                info["width"], info["height"] = image.size
    except (OSError, ValueError, SyntaxError) as error:
        # ImageError is a ValueError
        logger.warning("Cannot read size of %s: %s", name, error)

    return info
