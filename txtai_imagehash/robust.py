"""
Robust module: the robust near-duplicate path. build() and add() fill an index with every signal: stage 1 hashes
every image with the combined hash, raw, inside its uniform borders and zoomed on its centre; stage 2 (optional,
keypoints=True) adds local features (see txtai_imagehash.keypoints). search() expands each query to the 8 flips and
rotations of its thumbnail and ranks images by every signal the index holds.
"""

from txtai import Embeddings

from .hashing.variants import TRIMMED, ZOOMS, Variants, issecond, iszoom, seconds
from .images import path
from .index import HAMMING, METHOD, config, stream
from .settings import read as settings
from .keypoints import BACKEND, CANDIDATES, available, keypointconfig
from .keypoints.features import BITS, COUNT
from .postgres import HAMMING as PGHAMMING
from .sql import hamming
from .vectors import todistance
from .verification import CHECKABLE, Rule, issparse


def build(images, algorithm="combined", size=8, trim=True, exif=True, vectors=False, keypoints=False, errors=None, workers=1, progress=False, zoom=True, **overrides):
    """
    Builds an Embeddings index over images for search() and dedup(): one row per image with its raw hash and the
    hashes of its 7 flips and rotations, and second rows (no object): when the image has a uniform border the hash
    inside it (id "<id>#trimmed"), and the hashes of its centre zooms (ids "<id>#zoom80", "#zoom64", "#zoom51", see
    txtai_imagehash.hashing.variants.ZOOMS). Every row carries the image id in its `image` field, so the SQL path
    (txtai_imagehash.query) keeps working.

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
        workers: hash and extract keypoints in this many worker processes, 1 (default) works here
        progress: show a progress bar
        zoom: also store the hashes of centre zooms, so that search() finds the originals of centre crops by hash
        overrides: Embeddings configuration keys, see txtai_imagehash.config()

    Returns:
        Embeddings
    """

    embeddings = Embeddings(configure(algorithm, size, trim, exif, vectors, keypoints, zoom, **overrides))
    embeddings.index(rows(images, indexer(embeddings), embeddings, errors, workers, progress))
    return embeddings


def configure(algorithm="combined", size=8, trim=True, exif=True, vectors=False, keypoints=False, zoom=True, **overrides):
    """
    Creates the Embeddings configuration of a robust index (see build()).

    Args:
        algorithm: hash algorithm
        size: hash size
        trim: also store the hash inside uniform borders
        exif: apply EXIF orientation before hashing
        vectors: binary Hamming vector index: True or a dict of txtai_imagehash.vectorconfig() arguments
        keypoints: keypoint index: True or a dict of txtai_imagehash.keypoints.Keypoints options
        zoom: also store the hashes of centre zooms
        overrides: Embeddings configuration keys, see txtai_imagehash.config()

    Returns:
        configuration dict
    """

    options = {"algorithm": algorithm, "size": size, "trim": trim, "exif": exif, "zoom": zoom}

    # Binary vector index of the same hashes: vectors is True or a dict of vectorconfig() arguments
    if vectors:
        vectors = {"algorithm": algorithm, "size": size, "exif": exif, **(vectors if isinstance(vectors, dict) else {})}

    # Keypoint index in txtai's graph slot: keypoints is True or a dict of Keypoints options
    if keypoints:
        options["keypoints"] = True
        overrides["graph"] = keypointconfig(exif=exif, **(keypoints if isinstance(keypoints, dict) else {}))

    return config(vectors=vectors, **{**overrides, "imagehash": options})


def default(keypoints=None, size=8):
    """
    Creates the configuration of a new index for a folder, as the command line and dedup(folder) make it: the robust
    index (combined hash, trimmed rows, EXIF orientation), keypoints whenever the `keypoints` extra is installed
    (read from each row's file when the row has no image object), and an exact binary vector index of the hashes
    for fast search (txtai_imagehash.ann.HammingIndex).

    Args:
        keypoints: True or False to choose, None (default) for keypoints when OpenCV is installed
        size: hash size

    Returns:
        configuration dict
    """

    keypoints = available() if keypoints is None else keypoints
    return configure(size=size, vectors={"backend": "hamming"}, keypoints={"paths": True} if keypoints else False)


def add(embeddings, images, errors=None, workers=1, progress=False):
    """
    Adds images to an index from build(), or replaces those whose id is already there, hashed with the index's own
    settings. Keypoints are extracted too when the index has them (txtai hands the new rows to its graph slot).

    Args:
        embeddings: Embeddings index from build()
        images: iterable of images or (id, image) pairs, where an image is a path, PIL image, bytes or binary file
                object; ids default to 0..n-1 in input order
        errors: optional list that collects an ImageError for every skipped image
        workers: hash in this many worker processes
        progress: show a progress bar

    Returns:
        embeddings
    """

    # An image replaced by one without a border (or with a flat centre) leaves no stale second row behind
    stale = []
    embeddings.upsert(rows(images, indexer(embeddings), embeddings, errors, workers, progress, stale))
    if stale:
        embeddings.delete(stale)

    return embeddings


class Indexer:
    """
    Hashes one image for a robust index from one decode: its raw and trimmed hashes, the hashes of its 7 flips and
    rotations, of its centre zooms and, for an index with keypoints, its ORB keypoints. Picklable, so that it runs in
    hashing workers.
    """

    def __init__(self, variants, count=None, zoom=False, bits=BITS):
        """
        Creates an Indexer.

        Args:
            variants: Variants hasher with the index's settings
            count: keypoints kept per image, None for no keypoints
            zoom: hash the image's centre zooms
            bits: keypoint descriptor bits of the index
        """

        self.variants, self.count, self.zoom, self.bits = variants, count, zoom, bits

        # Keypoint detector, created on first use in the process that runs it (OpenCV objects do not pickle)
        self.features = None

    def __getstate__(self):
        return {**self.__dict__, "features": None}

    def zooms(self, image):
        """
        Hashes the centre zooms of an image that are worth a row: a mostly empty zoom (a picture with a blank middle)
        would match every blank query, so it is left out.

        Args:
            image: PIL image (already oriented)

        Returns:
            {row id suffix: hex hash}
        """

        return {suffix: value for suffix, (value, flatness) in self.variants.zooms(image).items() if not issparse(flatness)}

    def __call__(self, source):
        """
        Hashes one image.

        Args:
            source: path, PIL image, bytes or binary file object

        Returns:
            {"text": raw hash, "trimmed": trimmed hash or None, "variants": comma-separated hashes of the 7 flips and
            rotations, "crops": comma-separated ratio=hash of the image's centre cut to other aspect ratios,
            "contrast": how much the hash can say (see Variants.contrast), "flatness": how much of the image it says
            nothing about (see Variants.flatness), "aspect": width / height as hashed, "zooms": {row id suffix: hash}
            of the centre zooms that are not mostly empty (empty without zoom), and with keypoints "keypoints":
            (points, codes) and "frame": [width, height] of the image the keypoints were found in}
        """

        image = self.variants.load(source)
        raw, trimmed = self.variants(image)
        crops = ",".join(f"{name}={value}" for name, value in self.variants.crops(image).items())
        result = {"text": raw, "trimmed": trimmed, "variants": ",".join(self.variants.dihedral(image)), "crops": crops}
        result["contrast"], result["aspect"] = self.variants.contrast(image), round(image.width / image.height, 4)
        result["flatness"], result["zooms"] = self.variants.flatness(image), self.zooms(image) if self.zoom else {}

        if self.count:
            # pylint: disable=C0415
            if not self.features:
                from .keypoints import Features

                self.features = Features(self.count, bits=self.bits)

            result["keypoints"], result["frame"] = self.features(image), list(self.features.frame(image.size))

        return result


def remove(embeddings, ids):
    """
    Deletes images from an index from build(), with their second rows (trimmed hash, zooms). txtai's own delete()
    removes only the rows named: the second rows it leaves are not returned by search(), but take space (remove()
    of the same ids clears them).

    Args:
        embeddings: Embeddings
        ids: image ids

    Returns:
        list of the image ids deleted (not their second rows)
    """

    deleted = embeddings.delete([rowid for uid in ids for rowid in [uid, *seconds(uid)]])
    return [uid for uid in deleted if not issecond(uid)]


def indexer(embeddings):
    """
    Creates the Indexer of an index: its hash settings (see txtai_imagehash.settings), and keypoints when the index
    has a keypoint index.

    Args:
        embeddings: Embeddings

    Returns:
        Indexer
    """

    values = settings(embeddings.config)
    graph = embeddings.config.get("graph") or {}
    count = graph.get("count", COUNT) if graph.get("backend") == BACKEND else None

    # Descriptors as long as the keypoint index's: a loaded index keeps the bits it was saved with
    bits = embeddings.graph.descriptors.bits if count and haskeypoints(embeddings) else graph.get("bits", BITS)
    return Indexer(Variants(values["algorithm"], values["size"], values.get("trim", False), values["exif"]), count, values.get("zoom", False), bits)


def rows(images, function, embeddings, errors=None, workers=1, progress=False, stale=None):
    """
    Streams the (id, data, tags) documents of a robust index: the raw row of each image, then its second rows (its
    trimmed row if any, its zooms). Every row carries the image id in its `image` field. Keypoints extracted with the
    hashes are handed to the index's keypoint graph, which stores them when txtai inserts the row.

    Args:
        images: iterable of images or (id, image) pairs
        function: Indexer
        embeddings: Embeddings the rows go into
        errors: optional list that collects an ImageError for every skipped image
        workers: hash in this many worker processes
        progress: show a progress bar
        stale: optional list that collects the ids of the second rows an image does not have (see
               txtai_imagehash.hashing.variants.seconds), which an earlier version of it may have left

    Returns:
        generator of documents
    """

    for uid, image, obj, result in stream(images, function, errors, workers, progress=progress):
        source = path(image)
        if "keypoints" in result and embeddings.graph is not None:
            embeddings.graph.prepare(uid, *result["keypoints"])

        data = {"object": obj, "text": result["text"], "path": source, "image": uid, **{key: result[key] for key in ("variants", "crops", "contrast", "flatness", "aspect")}}
        if "frame" in result:
            data["frame"] = result["frame"]

        yield uid, data, None
        second = {f"{uid}{TRIMMED}": result["trimmed"]} if result["trimmed"] else {}
        second.update((f"{uid}{suffix}", value) for suffix, value in result["zooms"].items())

        for rowid, value in second.items():
            yield rowid, {"text": value, "path": source, "image": uid}, None

        if stale is not None:
            stale.extend(rowid for rowid in seconds(uid) if rowid not in second)


def variants(embeddings):
    """
    Creates the Variants hasher of an index's queries: its hash settings (see txtai_imagehash.settings), with
    trimmed query hashes always on (they need nothing from the index).

    Args:
        embeddings: Embeddings

    Returns:
        Variants
    """

    values = settings(embeddings.config)
    return Variants(values["algorithm"], values["size"], True, values["exif"])


def search(embeddings, image, limit=10, maxdistance=None, dihedral=True):
    """
    Finds the near-duplicates of an image, best first.

    Stage 1, hashes: the query is hashed raw and inside its uniform borders, each in its 8 flips and rotations, and
    every image is ranked by the smallest Hamming distance between any query hash and any of its stored hashes (raw,
    trimmed, and its centre zooms, which find the originals of centre crops); a
    flipped or rotated query hash adds a penalty of a tenth of the hash bits (19 bits for the combined hash), so
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
        maxdistance: None (default) for near-duplicates only, by the rule shared with dedup() (see
                     txtai_imagehash.verification: a hash within the strict threshold of the index's algorithm, or
                     keypoints that agree, or a gray-zone hash where keypoints cannot check); a number to rank every
                     image within that hash distance, unverified (10**6 ranks every image)
        dihedral: expand the query to flips and rotations

    Returns:
        list of {"id": image id, "distance": bits (+ penalty), "path": path}, best first; with keypoints also
        "inliers": keypoints matched under the affine fit (0 for hash-only matches)
    """

    hashes = variants(embeddings)
    keypoints = haskeypoints(embeddings)
    rule = Rule(hashes.algorithm, hashes.size, keypoints, maxdistance)
    image = hashes.load(image)

    # An image has up to 2 + len(ZOOMS) rows: the raw, trimmed and zoom rows
    queries, count = hashes.expand(image, dihedral), limit * (2 + len(ZOOMS))
    rows = vsearch(embeddings, queries, count, rule.threshold) if isvector(embeddings) else ssearch(embeddings, queries, count, rule.threshold)
    rows = [row for row in rows if rule.reaches(row["distance"], iszoom(row["id"]))]

    # Keypoint matches, with the hash distances of the images matched
    if keypoints:
        rows.extend(kmatch(embeddings, dict(embeddings.graph.match(image, max(limit, CANDIDATES))), queries, hashes.nbits()))

    results, inliers, texts = {}, {}, {}
    for row in rows:
        uid = row["image"] if row.get("image") is not None else row["id"]
        inliers[uid] = max(row.get("inliers", 0), inliers.get(uid, 0))
        texts.setdefault(uid, []).append(row.get("text"))
        if uid not in results or row["distance"] < results[uid]["distance"]:
            results[uid] = {"id": uid, "distance": row["distance"], "path": row.get("path")}

    if keypoints:
        for uid, result in results.items():
            result["inliers"] = inliers[uid]

    # Images whose own row is gone (deleted with txtai's delete(), which leaves their second rows) are not returned
    known = checks(embeddings, list(results), keypoints)
    results = {uid: result for uid, result in results.items() if str(uid) in known}

    # At the defaults, only verified near-duplicates (a maxdistance given ranks every image within it)
    if maxdistance is None:
        sparse = issparse(hashes.flatness(image))
        for uid in list(results):
            checkable, flat = known[str(uid)]
            # A mostly empty pair is judged on its hash bits without the flip penalty: an exact mirror is 0 bits away
            bits = nearest(texts[uid], queries) if sparse or flat else None
            if not rule.accept(results[uid]["distance"], inliers[uid], checkable, sparse or flat, bits):
                del results[uid]

    return sorted(results.values(), key=lambda x: (-x.get("inliers", 0), x["distance"]))[:limit]


def checks(embeddings, uids, keypoints):
    """
    Reads what the rule needs to know of images from their own rows: whether they have enough keypoints for
    keypoints to decide their gray-zone matches, and whether they are mostly empty.

    Args:
        embeddings: Embeddings
        uids: image ids
        keypoints: True when the index has a keypoint index

    Returns:
        {image id as text (the database's row ids are text, an image field keeps the id's type): (True when the image
        has at least CHECKABLE keypoints, True when it is mostly empty)}, for the images that have their own row
    """

    if not uids:
        return {}

    # Keypoints and flatness belong to an image's raw row; ids are bound as parameters
    parameters = {f"p{x}": uid for x, uid in enumerate(uids)}
    sql = f"select indexid, id, flatness from txtai where id in ({', '.join(f':{name}' for name in parameters)})"
    rows = embeddings.search(sql, len(uids), parameters=parameters)
    counts = embeddings.graph.keypoints([row["indexid"] for row in rows]) if keypoints else [CHECKABLE] * len(rows)
    return {str(row["id"]): (count >= CHECKABLE, issparse(row.get("flatness"))) for row, count in zip(rows, counts)}


def nearest(texts, queries):
    """
    Smallest Hamming distance between any of an image's rows and any query hash, without the flip penalty.

    Args:
        texts: hex hashes of the image's rows found (None for a row without a hash)
        queries: dict of hex hash -> penalty

    Returns:
        bits, or None when no row has a hash
    """

    distances = [hamming(text, value) for text in texts if text for value in queries]
    return min((x for x in distances if x is not None), default=None)


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
        list of rows with id, image, path, text, distance and inliers
    """

    if not matches:
        return []

    rows = []
    sql = f"select indexid, id, image, path, text from txtai where indexid in ({', '.join(str(int(x)) for x in matches)})"
    for row in embeddings.search(sql, len(matches)):
        distances = [hamming(row["text"], value) for value in queries]
        distance = min((x + penalty for x, penalty in zip(distances, queries.values()) if x is not None), default=default)
        rows.append({"id": row["id"], "image": row["image"], "path": row["path"], "text": row["text"], "distance": distance, "inliers": matches[row["indexid"]]})

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
    SQL path: one query ranking rows by the smallest Hamming distance to any query hash (closest(), or hamming() per
    query hash on indexes that do not register closest and in PostgreSQL).

    Args:
        embeddings: Embeddings
        queries: dict of hex hash -> penalty
        limit: maximum number of rows
        maxdistance: largest distance returned

    Returns:
        list of rows with id, image, path, text and distance
    """

    # An index in PostgreSQL (smallest of values: least) reads only the rows within reach from its hash blocks
    # (txtai_imagehash.postgres.near)
    postgres = getattr(embeddings.database, "blocks", None) is not None

    # One closest() call per row where the index registers it (indexes saved before it use hamming() per query hash)
    if not postgres and any(isinstance(x, dict) and x.get("name") == "closest" for x in embeddings.config.get("functions") or []):
        hashes, penalties = ",".join(quote(x)[1:-1] for x in queries), ",".join(str(int(x)) for x in queries.values())
        expression = f"closest(text, '{hashes}', '{penalties}')"
    else:
        terms = [f"hamming(text, {quote(x)})" + (f" + {int(penalty)}" if penalty else "") for x, penalty in queries.items()]
        expression = f"{'least' if postgres else 'min'}({', '.join(terms)})" if len(terms) > 1 else terms[0]

    where, parameters = f"{expression} <= {int(maxdistance)}", None

    if postgres:
        where, parameters = f"near(text, :hashes, :radii) and {where}", {"hashes": list(queries), "radii": [maxdistance - x for x in queries.values()]}

    sql = f"select id, image, path, text, {expression} dist from txtai where {where} order by dist limit {int(limit)}"
    return [{**row, "distance": row.pop("dist")} for row in embeddings.search(sql, limit, parameters=parameters)]


def vsearch(embeddings, queries, limit, maxdistance=None):
    """
    Vector path: the nearest rows of every query hash in the binary vector index, in one batch ANN search, then
    one SQL lookup of the rows found.

    Args:
        embeddings: Embeddings
        queries: dict of hex hash -> penalty
        limit: maximum number of rows per query hash
        maxdistance: largest distance returned, lets an index that can bound its search skip farther rows

    Returns:
        list of rows with id, image, path, text and distance
    """

    # Smallest distance per index row over all query hashes
    distances = {}
    vectors = embeddings.batchtransform(list(queries))

    # The exact indexes (txtai_imagehash.ann.HammingIndex, in PostgreSQL txtai_imagehash.postgres.HammingIndex) probe
    # only the hash blocks within reach
    if maxdistance is not None and embeddings.config.get("backend") in (HAMMING, PGHAMMING):
        results = embeddings.ann.search(vectors, limit, [maxdistance - penalty for penalty in queries.values()])
    else:
        results = embeddings.ann.search(vectors, limit)
    for result, penalty in zip(results, queries.values()):
        for indexid, score in result:
            value = todistance(score, embeddings) + penalty
            distances[indexid] = min(value, distances.get(indexid, value))

    # Only the rows within reach are looked up (most of the nearest rows of a query are unrelated images)
    if maxdistance is not None:
        distances = {indexid: value for indexid, value in distances.items() if value <= maxdistance}

    if not distances:
        return []

    # Rows deleted from the content database drop out here
    sql = f"select indexid, id, image, path, text from txtai where indexid in ({', '.join(str(int(x)) for x in distances)})"
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
