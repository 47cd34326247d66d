"""
Indexes module: the index a command works on. Its arguments are checked against the index's saved settings before
txtai is imported; txtai is imported once, when an index is opened.
"""

import os

from importlib.util import find_spec

from .. import storage
from ..checks import hashsize, integer
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

    A new index is the robust one (combined hash, hashes inside borders and of the flips and rotations, EXIF
    orientation, keypoints when OpenCV is installed) unless --algorithm names the recipe's single hash.

    Args:
        args: parsed arguments
        create: a new index may be created, else a missing index is a usage error

    Returns:
        (settings dict, True if the index exists); settings hold algorithm and size, trim and exif for a robust index,
        and keypoints: True for a keypoint index
    """

    wanted = {"algorithm": getattr(args, "algorithm", None), "size": getattr(args, "hash_size", None)}
    if wanted["algorithm"]:
        # pylint: disable=C0415
        from ..hashing.algorithms import names

        if wanted["algorithm"] not in names():
            raise UsageError(f"unknown --algorithm {wanted['algorithm']!r}: choose one of {', '.join(names())}")

    path, keypoints = getattr(args, "index", None), getattr(args, "keypoints", None)
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
        frames(args, stored)
        return stored, True

    if path and os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise UsageError(f"{path} exists but is not a txtai index: choose a new or empty folder for --index")
    if not create:
        raise UsageError(f"no index at {path}: build one with 'txtai-imagehash index FOLDER --index {path}'")

    # The robust index by default, the recipe's index of one hash when an algorithm is named
    robust = not wanted["algorithm"]
    values = {"algorithm": wanted["algorithm"] or ("combined" if robust else "average"), "size": wanted["size"] or 8}
    if robust:
        values.update({"trim": True, "exif": True})

    # Keypoints when asked, and by default in a robust index when OpenCV is installed
    if keypoints or (keypoints is None and robust and find_spec("cv2") is not None):
        values["keypoints"] = True

    try:
        hashsize(values["algorithm"], values["size"], "--hash-size")
    except ValueError as error:
        raise UsageError(str(error)) from None

    frames(args, values)
    return values, False


def threshold(args, values):
    """
    Checks a --threshold against the length of the index's hashes, before txtai is imported: pairs need a
    threshold under the number of bits.

    Args:
        args: parsed arguments
        values: hash settings, see settings()
    """

    if getattr(args, "threshold", None) is None:
        return

    # pylint: disable=C0415
    from ..hashing.algorithms import nbits

    bits = nbits(values["algorithm"], values["size"])
    try:
        integer("--threshold", args.threshold, 0, bits - 1)
    except ValueError as error:
        raise UsageError(f"{error} ({bits}-bit {values['algorithm']} hashes)") from None


def frames(args, values):
    """
    Checks that --frames all asks for a recipe index: the robust index keeps the first frame.

    Args:
        args: parsed arguments
        values: hash settings of the index
    """

    if getattr(args, "frames", "first") == "all" and values.get("trim"):
        raise UsageError("--frames all needs a recipe index of one hash: add --algorithm NAME (e.g. --algorithm average) for a new index")


def open_index(args, create=True, write=True):
    """
    Loads the index at args.index, or creates a new one (in memory when args.index is not set). A command that
    writes the index holds its write lock (see txtai_imagehash.storage.lock) from before it reads the index until it
    ends, so that two writers never lose each other's rows: the second one gets a usage error naming the first.

    Args:
        args: parsed arguments
        create: create a new index if none exists, else raise a UsageError
        write: the command changes the index

    Returns:
        (Embeddings, ImageHash pipeline)
    """

    values, exists = settings(args, create)
    if write and getattr(args, "index", None):
        try:
            args.resources.enter_context(storage.lock(args.index))
        except storage.LockedError as error:
            raise UsageError(str(error)) from None

        # Read again under the lock: another writer may have created or changed the index meanwhile
        values, exists = settings(args, create)
    if values.get("keypoints") and not exists:
        opencv()

    # pylint: disable=C0415
    from txtai import Embeddings

    from ..index import config
    from ..keypoints import keypointconfig
    from ..pipeline import ImageHash
    from ..robust import default
    from ..settings import pipeline

    if exists:
        embeddings = storage.load(args.index)
    elif "trim" in values:
        embeddings = Embeddings(default(bool(values.get("keypoints")), values["size"]))
    else:
        # The recipe's index: keypoints read from each row's file, as hashed (no EXIF orientation)
        embeddings = Embeddings(config(imagehash=values, **({"graph": keypointconfig(exif=False, paths=True)} if values.get("keypoints") else {})))

    return embeddings, ImageHash(**pipeline(values))


def opencv():
    """
    Checks that OpenCV is installed for a new index with keypoints, before txtai is imported.
    """

    if find_spec("cv2") is None:
        raise UsageError('keypoints need OpenCV: pip install "txtai-imagehash[keypoints]", or use --no-keypoints')


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
    import warnings

    from PIL import Image

    from ..folder import Folder

    # Unreadable files are collected and listed at the end, not logged one by one (the package's loggers), and
    # images over Pillow's pixel limit are refused and listed, not also warned about (hashing workers are forked
    # from here, so they inherit the filter)
    errors, logger = [], logging.getLogger("txtai_imagehash")
    say(args, f"Indexing {os.path.abspath(path)}" + (f" into {args.index}" if args.index else ""))
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            synchronizer = Folder(embeddings, pipeline, store=getattr(args, "store_images", False), workers=args.workers, fast=args.fast, frames=getattr(args, "frames", "first"))
            # Never index the index (or its versions) when it lives inside the folder
            exclude = [args.index, storage.versions(os.path.abspath(args.index))] if args.index else []
            stats = synchronizer.sync(path, progress(args), errors, exclude)
    finally:
        logger.setLevel(level)

    if args.index:
        # Crash-safe: a new version replaces the old one atomically
        storage.save(embeddings, args.index)

    say(
        args,
        (
            f"{stats['added']} added, {stats['updated']} updated, {stats['removed']} removed, {stats['unchanged']} unchanged, "
            f"{stats['skipped']} non-image files skipped; {stats['images']} images in the index"
            + (f" ({stats['kept']} kept below folders that could not be read)" if stats.get("kept") else "")
        ),
    )

    # Unreadable files always get listed, even with --quiet
    listerrors(errors)
    return stats
