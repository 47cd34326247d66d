"""
Duplicates: finds every group of near-duplicate images in an index, a folder or a list of images, and picks a keeper
per group. Nothing is ever deleted here: the output is a report.

- sources: the ids, paths and hashes of an index, a folder, a list of images or a dict of hashes
- pairs: all pairs within a distance by multi-index hashing, and their connected components
- groups: groups of images with their metadata, keeper and distances
"""

import json

from ..checks import integer
from ..hashing.codec import words
from .groups import groups
from .pairs import components
from .sources import records


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
        workers: processes for hashing a folder or list (see txtai_imagehash.hashes)
        fast: use fast (JPEG draft) hashing for a folder or list
        progress: show a progress bar while hashing
        pipeline: ImageHash pipeline for a folder or list, defaults to ImageHash()
        errors: optional list that collects an ImageError for each image that could not be read

    Returns:
        list of groups, largest first, each {"keeper": id, "images": [{"id", "path", "hash", "width",
        "height", "bytes", "distance"}, ...]} with the keeper first and distance the Hamming bits to the keeper
    """

    ids, paths, hashes, objects = records(source, workers, fast, progress, pipeline, errors)
    if not ids:
        return []

    codes, nbits = words(hashes)

    threshold = default(nbits) if threshold is None else integer("threshold", threshold)

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
