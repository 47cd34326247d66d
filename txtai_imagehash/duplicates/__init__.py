"""
Duplicates: finds every group of near-duplicate images in an index, a folder or a list of images, and picks a keeper
per group. Nothing is ever deleted here: the output is a report.

- sources: the images of an index or a dict of hashes, one per file (links merged as aliases)
- pairs: all pairs of hashes within a distance by multi-index hashing
- evidence: hash pairs, keypoint matches and identical bytes between images
- groups: groups without chains, keepers, and why each member is a duplicate
"""

import json
import os

from ..checks import integer
from ..verification import Rule
from .evidence import Evidence
from .groups import KEEP, groups
from .sources import images as read


def dedup(source, threshold=None, keep="pixels", reference=(), workers=1, fast=False, progress=False, pipeline=None, errors=None):
    """
    Finds groups of near-duplicate images. Every pair of images that the index's evidence links is checked by the
    rule shared with search() (txtai_imagehash.verification): a hash distance within the strict threshold settles
    a pair, a distance in the gray zone up to the threshold needs keypoints to agree (on an index with keypoints),
    and keypoints that agree find crops whatever their hash distance. Linked images form groups in which every
    member is a near-duplicate of its keeper itself, so groups never chain two different pictures. Symbolic and hard
    links to one file are one image, listed as its aliases. Each group names a keeper, chosen by the keep rule:

      - pixels (default): most pixels, then the largest file
      - size: the largest file, then most pixels
      - oldest / newest: the earliest / latest modification time, then most pixels

    Files below a reference folder always rank first (they are kept, never moved); then real files rank before files
    only reached through a link out of the folder; then the rule; then the smallest path and id.

    Args:
        source: Embeddings index (its rows, keypoints and stored objects), a folder path (walked and indexed as the
                command line does, in memory), a list of image sources or (id, image) pairs (indexed with build()),
                or a dict {id: hex hash}
        threshold: largest hash distance in bits of a pair (the end of the gray zone), defaults to the index
                   algorithm's threshold (txtai_imagehash.hashing.algorithms.THRESHOLDS)
        keep: keeper rule, one of pixels, size, oldest, newest
        reference: folders whose files are always kept
        workers: processes for hashing a folder or list and for verifying keypoint matches
        fast: use fast (JPEG draft) hashing for a recipe pipeline
        progress: show progress bars
        pipeline: ImageHash pipeline for a list of images, to de-duplicate by a recipe index instead of build()
        errors: optional list that collects an ImageError for each image that could not be read

    Returns:
        list of groups, largest first, each {"keeper": id, "images": [keeper, members...]}; every image has id, path,
        hash, width, height, bytes, distance (hash bits to the keeper, flip penalty included; None when only
        keypoints link them), match (keeper, identical, same, flipped, border, crop, edited), inliers (keypoints
        matched with the keeper), and when known aliases, share and region (of the keeper a crop covers) and
        reference
    """

    if keep not in KEEP:
        raise ValueError(f"Invalid keep {keep!r}: expected one of {', '.join(KEEP)}")

    integer("threshold", threshold)
    embeddings = source if isinstance(source, dict) or hasattr(source, "search") else index(source, workers, fast, progress, pipeline, errors)

    images = read(embeddings)
    if not len(images):
        return []

    # Pairs need a threshold under the hash length
    nbits = 4 * len(images.hashes[0])
    integer("threshold", threshold, 0, nbits - 1)

    # pylint: disable=C0415
    from ..robust import haskeypoints

    values = images.settings
    rule = Rule(values["algorithm"], values["size"], not isinstance(embeddings, dict) and haskeypoints(embeddings), threshold)

    evidence = Evidence(images, rule)
    evidence.hashes()
    evidence.keypoints(workers, progress)
    evidence.mirrors()

    return groups(images, evidence, keep, [os.path.realpath(folder) for folder in reference])


def index(source, workers, fast, progress, pipeline, errors):
    """
    Indexes a folder or a list of images in memory for dedup(): the robust index of the command line (keypoints
    when OpenCV is installed), or a recipe index with a pipeline.

    Args:
        source: folder path or list of images
        workers: hashing processes
        fast: JPEG draft hashing for a recipe pipeline
        progress: show a progress bar
        pipeline: ImageHash pipeline or None
        errors: list that collects unreadable images, or None

    Returns:
        Embeddings
    """

    # pylint: disable=C0415
    from txtai import Embeddings

    from ..folder import Folder
    from ..index import config, documents
    from ..keypoints import available
    from ..robust import build, default

    if isinstance(source, (str, os.PathLike)):
        if not os.path.isdir(source):
            # pylint: disable=C0415
            from ..images import ImageError

            raise ImageError(os.fspath(source), "not a folder")

        embeddings = Embeddings(default() if pipeline is None else config(imagehash={"algorithm": pipeline.algorithm, "size": pipeline.size}))
        Folder(embeddings, pipeline=pipeline, workers=workers, fast=fast).sync(source, progress, errors)
        return embeddings

    if pipeline is None:
        return build(source, keypoints=available(), errors=errors, workers=workers, progress=progress)

    embeddings = Embeddings(config())
    embeddings.index(documents(source, pipeline, errors, workers, fast, progress))
    return embeddings


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
