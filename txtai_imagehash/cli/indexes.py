"""
Indexes module: the index a command works on. Its arguments are checked against the index's saved settings before
txtai is imported; txtai is imported once, when an index is opened.
"""

import os

from .. import storage
from ..settings import read
from .errors import UsageError
from .output import errors as listerrors, progress, say


def folder(path):
    """
    Validates a folder argument.

    Args:
        path: folder argument

    Returns:
        path
    """

    if not os.path.exists(path):
        raise UsageError(f"folder {path} does not exist")
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a folder: give the folder that holds the images")
    return path


def settings(args, create=True):
    """
    Hash settings of the index at args.index: an existing index's, checked against the command line, else those of
    the command line for a new index. Needs no txtai.

    Args:
        args: parsed arguments
        create: a new index may be created, else a missing index is a usage error

    Returns:
        (settings dict, True if the index exists); settings hold algorithm, size and, for a keypoint index,
        keypoints: True
    """

    wanted = {"algorithm": getattr(args, "algorithm", None), "size": getattr(args, "hash_size", None)}
    if wanted["algorithm"]:
        # pylint: disable=C0415
        from ..hashing.algorithms import names

        if wanted["algorithm"] not in names():
            raise UsageError(f"unknown --algorithm {wanted['algorithm']!r}: choose one of {', '.join(names())}")

    path, keypoints = getattr(args, "index", None), getattr(args, "keypoints", False)
    config = storage.config(path) if path else None
    if config is not None:
        stored = read(config)
        if keypoints and not stored.get("keypoints"):
            raise UsageError(f"the index at {path} has no keypoints: drop --keypoints, or build a new index at another --index path")

        for key, value in wanted.items():
            if value is not None and value != stored[key]:
                option = "--algorithm" if key == "algorithm" else "--hash-size"
                raise UsageError(
                    f"the index at {path} uses {key} {stored[key]!r}, not {value!r}: drop {option}, or build a new index at another --index path"
                )
        return stored, True

    if path and os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise UsageError(f"{path} exists but is not a txtai index: choose a new or empty folder for --index")
    if not create:
        raise UsageError(f"no index at {path}: build one with 'txtai-imagehash index FOLDER --index {path}'")

    values = {"algorithm": wanted["algorithm"] or "average", "size": wanted["size"] or 8}
    return ({**values, "keypoints": True} if keypoints else values), False


def open_index(args, create=True):
    """
    Loads the index at args.index, or creates a new one (in memory when args.index is not set).

    Args:
        args: parsed arguments
        create: create a new index if none exists, else raise a UsageError

    Returns:
        (Embeddings, ImageHash pipeline)
    """

    values, exists = settings(args, create)
    if values.get("keypoints") and not exists:
        graph = keypoints()

    # pylint: disable=C0415
    from txtai import Embeddings

    from ..index import config
    from ..pipeline import ImageHash
    from ..settings import pipeline

    if exists:
        embeddings = storage.load(args.index)
    else:
        embeddings = Embeddings(config(imagehash=values, **({"graph": graph} if values.get("keypoints") else {})))

    return embeddings, ImageHash(**pipeline(values))


def keypoints():
    """
    Configuration of the keypoint index of a new index: keypoints read from each row's file, as hashed (no EXIF
    orientation).

    Returns:
        graph configuration
    """

    # pylint: disable=C0415
    try:
        from ..keypoints import keypointconfig

        return keypointconfig(exif=False, paths=True)
    except ImportError as error:
        raise UsageError(str(error)) from None


def sync(args, embeddings, pipeline, path):
    """
    Brings an index in step with a folder, saves it when it has a path and prints the summary and the files
    that could not be read.

    Args:
        args: parsed arguments
        embeddings: Embeddings
        pipeline: ImageHash pipeline
        path: folder

    Returns:
        statistics dict, see txtai_imagehash.folder.Folder.sync
    """

    # pylint: disable=C0415
    import logging

    from ..folder import Folder

    # Unreadable files are collected and listed at the end, not logged one by one
    errors, loggers = [], [logging.getLogger(name) for name in ("txtai_imagehash.index", "txtai_imagehash.hashing")]
    say(args, f"Indexing {os.path.abspath(path)}" + (f" into {args.index}" if args.index else ""))
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        synchronizer = Folder(embeddings, pipeline, store=getattr(args, "store_images", False), workers=args.workers, fast=args.fast)
        # Never index the index (or its versions) when it lives inside the folder
        exclude = [args.index, storage.versions(os.path.abspath(args.index))] if args.index else []
        stats = synchronizer.sync(path, progress(args), errors, exclude)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)

    if args.index:
        # Crash-safe: a new version replaces the old one atomically
        storage.save(embeddings, args.index)

    say(
        args,
        (
            f"{stats['added']} added, {stats['updated']} updated, {stats['removed']} removed, {stats['unchanged']} unchanged, "
            f"{stats['skipped']} non-image files skipped; {embeddings.count()} images in the index"
        ),
    )

    # Unreadable files always get listed, even with --quiet
    listerrors(errors)
    return stats
