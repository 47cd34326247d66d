"""
Search module: build() and search(), the robust near-duplicate path. Stage 1 hashes every image with the combined
hash, raw and inside its uniform borders, and expands each query to the 8 flips and rotations of its thumbnail.
Stage 2 (optional, build(keypoints=True)) adds local features: see txtai_imagehash.keypoints.
"""

import numpy as np

from PIL import Image
from txtai import Embeddings

from .algorithms import nbits, resolve, tohex
from .combined import dihedral, thumbnail
from .functions import hamming
from .images import ImageError, encoded, load, path, skip
from .index import config
from .keypoints import BACKEND, CANDIDATES, keypointconfig
from .trim import trim
from .vectors import METHOD, todistance


# Default maximum distance of a near-duplicate per algorithm (hash size 8), in bits, flip/rotation penalty
# included. Calibrated with benchmarks/accuracy.py (19 scikit-image photos x 17 attacks, 24 distractors): at or a
# margin below the largest threshold that kept pairwise precision >= 0.99 there (combined 51, average 8, perceptual
# 16, difference 3, wavelet 5), as a larger collection brings unrelated pairs closer (average's 8 has no margin: it
# must admit a flipped match, 6 bits of penalty, and its closest unrelated pair was at 8). The color hash does not
# separate near-duplicates from unrelated images (precision 0.28 at distance 0): its threshold only admits
# identical hashes. Larger hash sizes scale by the number of bits.
THRESHOLDS = {
    "combined": 36,
    "average": 8,
    "perceptual": 12,
    "difference": 2,
    "wavelet": 4,
    "color": 0,
}

# Penalty of a flipped or rotated query hash, as a share of the hash bits
PENALTY = 0.1

# Largest side of the copy that non-combined algorithms hash the flips and rotations of
SMALL = 128

# Suffix of the row id of an image's trimmed hash
TRIMMED = "#trimmed"


class Hasher:
    """
    Hashes images for stage 1: the raw hash, the hash inside uniform borders, and for queries the hashes of the
    8 flips and rotations of both.
    """

    def __init__(self, algorithm="combined", size=8, trim=True, exif=True, penalty=None):
        """
        Creates a Hasher.

        Args:
            algorithm: hash algorithm name, combined by default
            size: hash size
            trim: also hash the region inside uniform borders (see txtai_imagehash.trim)
            exif: apply EXIF orientation before hashing
            penalty: bits added to the distances of flipped and rotated query hashes, defaults to PENALTY
                     (a share of the hash bits)
        """

        self.function = resolve(algorithm)
        self.algorithm, self.size, self.trim, self.exif = algorithm, size, trim, exif
        self.penalty = penalty if penalty is not None else round(PENALTY * self.nbits())

    def __call__(self, image):
        """
        Hashes an image for indexing.

        Args:
            image: PIL image (already oriented)

        Returns:
            (raw hex hash, trimmed hex hash or None when there is no border or trimming is off)
        """

        image = self.grey(image)
        raw = tohex(self.hashes(image, None, False)[0])

        box = self.box(image)
        return raw, tohex(self.hashes(image, box, False)[0]) if box else None

    def expand(self, image, dihedral=True):
        """
        Hashes a query image: raw and trimmed, each in its 8 flips and rotations. A flipped or rotated hash carries
        a penalty, added to its distances, so that an upright match ranks first when distances are close.

        Args:
            image: PIL image (already oriented)
            dihedral: expand to flips and rotations if True

        Returns:
            dict of distinct hex hash -> penalty in bits, the raw hash first
        """

        image = self.grey(image)
        hashes = [self.hashes(image, None, dihedral)]
        box = self.box(image)
        if box:
            hashes.append(self.hashes(image, box, dihedral))

        queries = {}
        for group in hashes:
            for x, values in enumerate(group):
                value, penalty = tohex(values), self.penalty if x else 0
                queries[value] = min(penalty, queries.get(value, penalty))

        return queries

    def grey(self, image):
        """
        Converts an image to grey levels once for the combined hash, which hashes luminance only (other algorithms
        get the image as is).

        Args:
            image: PIL image

        Returns:
            PIL image
        """

        return image.convert("L") if self.algorithm == "combined" and image.mode != "L" else image

    def box(self, image):
        """
        Finds the region inside uniform borders.

        Args:
            image: PIL image

        Returns:
            (left, top, right, bottom) box, or None when trimming is off or there is no border
        """

        if not self.trim:
            return None

        box = trim(image)
        return box if box != (0, 0) + image.size else None

    def hashes(self, image, box, expand):
        """
        Computes the hash bits of an image region, optionally in its 8 flips and rotations.

        Args:
            image: PIL image
            box: region to hash, or None for the whole image
            expand: hash the 8 flips and rotations if True, otherwise only the region

        Returns:
            boolean array, one row of bits per hash
        """

        if self.algorithm == "combined":
            # One thumbnail, transformed 8 times
            pixels = thumbnail(image, self.size, box)
            return dihedral(pixels, self.size) if expand else dihedral(pixels, self.size)[:1]

        image = image.crop(box) if box else image
        bits = [self.bits(image)]
        if expand:
            # The other 7 transforms of a small copy
            small = image.copy()
            small.thumbnail((SMALL, SMALL))
            for method in TRANSPOSE:
                bits.append(self.bits(small.transpose(method)))

        return np.stack(bits)

    def bits(self, image):
        """
        Computes the hash bits of one image with the configured algorithm.

        Args:
            image: PIL image

        Returns:
            flat boolean array
        """

        return np.asarray(self.function(image, self.size).hash, dtype=bool).reshape(-1)

    def nbits(self):
        """
        Number of bits in a hash of this algorithm and size.

        Returns:
            number of bits
        """

        return nbits(self.algorithm, self.size)

    def threshold(self):
        """
        Default maximum distance of a near-duplicate for this algorithm and size.

        Returns:
            number of bits
        """

        base = 3 * 64 if self.algorithm == "combined" else 64
        return round(THRESHOLDS.get(self.algorithm, 0.1 * base) * self.nbits() / base)


# The 7 flips and rotations besides the identity
TRANSPOSE = [
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
]


def build(images, algorithm="combined", size=8, trim=True, exif=True, vectors=False, keypoints=False, errors=None, **overrides):
    """
    Builds an Embeddings index over images for search(): one row per image with its raw hash, and when the image
    has a uniform border a second row with the hash inside it (id "<id>#trimmed", no object). Every row carries
    the image id in its `image` field, so the SQL path (txtai_imagehash.query) keeps working.

    Args:
        images: iterable of images or (id, image) pairs, where an image is a path, PIL image, bytes or binary file
                object; ids default to 0..n-1 in input order
        algorithm: hash algorithm, combined (192 bits) by default
        size: hash size
        trim: also store the hash inside uniform borders
        exif: apply EXIF orientation before hashing
        vectors: also build a binary Hamming vector index of the hashes: True, or a dict of
                 txtai_imagehash.vectorconfig() arguments such as {"approximate": True, "count": 1000000}
        keypoints: also index ORB keypoints (stage 2, needs the `keypoints` extra) so that search() finds the
                   originals of crops: True, or a dict of txtai_imagehash.keypoints.Keypoints options such as
                   {"count": 512}
        errors: optional list that collects an ImageError for every skipped image
        overrides: Embeddings configuration keys, see txtai_imagehash.config()

    Returns:
        Embeddings
    """

    hasher = Hasher(algorithm, size, trim, exif)
    options = {"algorithm": algorithm, "size": size, "trim": trim, "exif": exif}

    # Binary vector index of the same hashes: vectors is True or a dict of vectorconfig() arguments
    if vectors:
        vectors = {"algorithm": algorithm, "size": size, "exif": exif, **(vectors if isinstance(vectors, dict) else {})}

    # Keypoint index in txtai's graph slot: keypoints is True or a dict of Keypoints options
    if keypoints:
        options["keypoints"] = True
        overrides["graph"] = keypointconfig(exif=exif, **(keypoints if isinstance(keypoints, dict) else {}))

    embeddings = Embeddings(config(vectors=vectors, **{**overrides, "imagehash": options}))
    embeddings.index(stream(images, hasher, errors))
    return embeddings


def stream(images, hasher, errors=None):
    """
    Streams (id, data, tags) documents of build(): the raw row of each image, then its trimmed row if any.

    Args:
        images: iterable of images or (id, image) pairs
        hasher: Hasher
        errors: optional list that collects an ImageError for every skipped image

    Returns:
        generator of documents
    """

    for index, image in enumerate(images):
        uid, image = image if isinstance(image, tuple) else (index, image)

        try:
            obj = encoded(image)
            raw, trimmed = hasher(load(obj, hasher.exif, normalize=True))
        except ImageError as error:
            skip(error, errors)
            continue

        source = path(image)
        yield uid, {"object": obj, "text": raw, "path": source, "image": uid}, None
        if trimmed:
            yield f"{uid}{TRIMMED}", {"text": trimmed, "path": source, "image": uid}, None


def hasher(embeddings):
    """
    Creates the Hasher matching an index: the options stored by build(), else the vectors options, else the
    recipe's defaults (average hash, size 8, no EXIF orientation). Trimmed query hashes are always used: they need
    nothing from the index.

    Args:
        embeddings: Embeddings

    Returns:
        Hasher
    """

    options = embeddings.config.get("imagehash") or {}
    if not options:
        vectors = embeddings.config.get("vectors") or {}
        options = {"algorithm": vectors.get("algorithm", "average"), "size": vectors.get("size", 8), "exif": vectors.get("exif", False)}

    return Hasher(options.get("algorithm", "average"), options.get("size", 8), True, options.get("exif", False))


def search(embeddings, image, limit=10, maxdistance=None, dihedral=True):
    """
    Finds the near-duplicates of an image, best first.

    Stage 1, hashes: the query is hashed raw and inside its uniform borders, each in its 8 flips and rotations, and
    every image is ranked by the smallest Hamming distance between any query hash and any of its stored hashes; a
    flipped or rotated query hash adds a penalty of PENALTY times the hash bits (19 bits for the combined hash), so
    upright matches win close calls. Uses the binary vector index when the index has one (txtai_imagehash.vectors),
    otherwise SQL (hamming).

    Stage 2, keypoints, when the index has them (build(keypoints=True)): the images that the query's keypoints
    match under an affine fit are returned too, whatever their hash distance, and rank first, by inlier keypoints.
    An image without a keypoint match still ranks by its hash distance, so stage 1 is the fallback.

    Works on indexes from build(), on plain recipe indexes from txtai_imagehash.config() + documents() and on command
    line indexes (the hash settings are read from the index configuration).

    Args:
        embeddings: Embeddings index
        image: query image: path, PIL image, bytes or binary file object
        limit: maximum number of images returned
        maxdistance: largest hash distance returned, defaults to the calibrated threshold of the index's algorithm
                     (THRESHOLDS); pass a large number such as 10**6 to rank every image
        dihedral: expand the query to flips and rotations

    Returns:
        list of {"id": image id, "distance": bits (+ penalty), "path": path}, best first; with keypoints also
        "inliers": keypoints matched under the affine fit (0 for hash-only matches)
    """

    hashes = hasher(embeddings)
    maxdistance = hashes.threshold() if maxdistance is None else maxdistance
    image = load(image, hashes.exif, normalize=True)

    # Two rows per image at most: fetch twice the limit
    queries = hashes.expand(image, dihedral)
    rows = vsearch(embeddings, queries, limit * 2) if isvector(embeddings) else ssearch(embeddings, queries, limit * 2, maxdistance)
    rows = [row for row in rows if row["distance"] <= maxdistance]

    # Keypoint matches, with the hash distances of the images matched
    keypoints = haskeypoints(embeddings)
    if keypoints:
        rows.extend(kmatch(embeddings, dict(embeddings.graph.match(image, max(limit, CANDIDATES))), queries, hashes.nbits()))

    results, inliers = {}, {}
    for row in rows:
        uid = row["image"] if row.get("image") is not None else row["id"]
        inliers[uid] = max(row.get("inliers", 0), inliers.get(uid, 0))
        if uid not in results or row["distance"] < results[uid]["distance"]:
            results[uid] = {"id": uid, "distance": row["distance"], "path": row.get("path")}

    if keypoints:
        for uid, result in results.items():
            result["inliers"] = inliers[uid]

    return sorted(results.values(), key=lambda x: (-x.get("inliers", 0), x["distance"]))[:limit]


def haskeypoints(embeddings):
    """
    Checks if an index has a keypoint index (stage 2).

    Args:
        embeddings: Embeddings

    Returns:
        True if the index has keypoints
    """

    return (embeddings.config.get("graph") or {}).get("backend") == BACKEND and embeddings.graph is not None


def kmatch(embeddings, matches, queries, default):
    """
    Rows of the images the query's keypoints match, with the hash distance of their matched row (its `text`,
    computed here rather than in SQL).

    Args:
        embeddings: Embeddings with a keypoint index
        matches: {index id: inlier keypoints} from Keypoints.match
        queries: dict of hex hash -> penalty
        default: distance of a row without a hash

    Returns:
        list of rows with id, image, path, distance and inliers
    """

    if not matches:
        return []

    rows = []
    sql = f"select indexid, id, image, path, text from txtai where indexid in ({', '.join(str(int(x)) for x in matches)})"
    for row in embeddings.search(sql, len(matches)):
        distances = [hamming(row["text"], value) for value in queries]
        distance = min((x + penalty for x, penalty in zip(distances, queries.values()) if x is not None), default=default)
        rows.append({"id": row["id"], "image": row["image"], "path": row["path"], "distance": distance, "inliers": matches[row["indexid"]]})

    return rows


def isvector(embeddings):
    """
    Checks if an index has a binary hash vector index.

    Args:
        embeddings: Embeddings

    Returns:
        True if vector search ranks rows by Hamming distance
    """

    return embeddings.ann is not None and embeddings.config.get("method") == METHOD and embeddings.config.get("quantize") == 1


def ssearch(embeddings, queries, limit, maxdistance):
    """
    SQL path: one query ranking rows by the smallest hamming() distance to any query hash.

    Args:
        embeddings: Embeddings
        queries: dict of hex hash -> penalty
        limit: maximum number of rows
        maxdistance: largest distance returned

    Returns:
        list of rows with id, image, path and distance
    """

    terms = [f"hamming(text, {quote(x)})" + (f" + {int(penalty)}" if penalty else "") for x, penalty in queries.items()]
    expression = f"min({', '.join(terms)})" if len(terms) > 1 else terms[0]
    sql = f"select id, image, path, {expression} dist from txtai where {expression} <= {int(maxdistance)} order by dist limit {int(limit)}"

    return [{**row, "distance": row.pop("dist")} for row in embeddings.search(sql, limit)]


def vsearch(embeddings, queries, limit):
    """
    Vector path: the nearest rows of every query hash in the binary vector index, in one batch ANN search, then
    one SQL lookup of the rows found.

    Args:
        embeddings: Embeddings
        queries: dict of hex hash -> penalty
        limit: maximum number of rows per query hash

    Returns:
        list of rows with id, image, path and distance
    """

    # Smallest distance per index row over all query hashes
    distances = {}
    results = embeddings.ann.search(embeddings.batchtransform(list(queries)), limit)
    for result, penalty in zip(results, queries.values()):
        for indexid, score in result:
            value = todistance(score, embeddings) + penalty
            distances[indexid] = min(value, distances.get(indexid, value))

    if not distances:
        return []

    # Rows deleted from the content database drop out here
    sql = f"select indexid, id, image, path from txtai where indexid in ({', '.join(str(int(x)) for x in distances)})"
    return [{**row, "distance": distances[row.pop("indexid")]} for row in embeddings.search(sql, len(distances))]


def quote(value):
    """
    Quotes a hex hash for SQL. Hashes are hex digits only (tohex output), checked here.

    Args:
        value: hex hash

    Returns:
        quoted string
    """

    if not value.isalnum():
        raise ValueError(f"Invalid hash {value!r}")

    return f"'{value}'"
