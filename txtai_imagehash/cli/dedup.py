"""
Dedup command: dedup FOLDER | --index PATH | FOLDER --index PATH.
"""

import os
import sys

from .errors import DUPLICATES, OK, PARTIAL, UsageError
from .indexes import folder, open_index, settings, sync, threshold
from .destination import DestinationError, check
from .output import progress, say, table


def run(args):
    """
    Finds groups of near-duplicates, reports them and optionally moves the duplicates aside.

    Args:
        args: parsed arguments

    Returns:
        exit code
    """

    if not args.folder and not args.index:
        raise UsageError("give a FOLDER, an --index PATH, or both (the folder is indexed into PATH first)")

    path = folder(args.folder) if args.folder else None
    if args.move_to:
        # At once, before indexing; move() checks again with the files of the collection
        try:
            check(args.move_to, path)
        except DestinationError as error:
            raise UsageError(str(error)) from None

    threshold(args, settings(args, create=bool(path))[0])
    embeddings, pipeline = open_index(args, create=bool(path), write=bool(path or args.move_to))
    if path:
        sync(args, embeddings, pipeline, path)

    groups = find(embeddings, args)
    source = os.path.abspath(path) if path else args.index

    # pylint: disable=C0415
    from ..duplicates import tojson

    if args.json:
        content = tojson(groups)
        if args.json == "-":
            print(content)
        else:
            with open(args.json, "w", encoding="utf-8") as f:
                f.write(content + "\n")

    if args.html:
        from .report import write

        say(args, f"Report: {write(groups, args.html, source=source)}")

    if args.json != "-":
        table(groups)

    code = move(args, embeddings, groups, path) if args.move_to else OK
    if code == OK and args.fail_on_duplicates and groups:
        code = DUPLICATES

    return code


def find(embeddings, args):
    """
    Finds the duplicate groups of an index.

    Args:
        embeddings: Embeddings
        args: parsed arguments (threshold, keep, reference, workers, quiet)

    Returns:
        groups, see txtai_imagehash.dedup
    """

    # pylint: disable=C0415
    from ..duplicates import dedup

    keep, reference = getattr(args, "keep", "pixels"), getattr(args, "reference", [])
    return dedup(embeddings, threshold=args.threshold, keep=keep, reference=reference, workers=args.workers, progress=progress(args))


def move(args, embeddings, groups, path):
    """
    Moves non-keepers aside, removes their rows from a saved index and prints the undo command.

    Args:
        args: parsed arguments
        embeddings: Embeddings
        groups: duplicate groups
        path: folder, or None

    Returns:
        exit code
    """

    # pylint: disable=C0415
    from .. import storage
    from ..folder import Folder, aliases
    from .moves import move as run

    if not groups:
        return OK

    # Every file of the collection (by each of its names), with its size and mtime when hashed
    collection = {}
    for row in Folder(embeddings).rows().values():
        for name in [row.get("path")] + aliases(row):
            if name:
                collection[name] = (row.get("size"), row.get("mtime"))

    index = os.path.abspath(args.index) if args.index else None
    try:
        manifest, done, failed, kept = run(groups, args.move_to, root=os.path.abspath(path) if path else None, index=index, collection=collection)
    except DestinationError as error:
        raise UsageError(str(error)) from None

    # The index follows the files: moved files are no longer in the collection (nor their second rows)
    if done and args.index:
        # pylint: disable=C0415
        from ..robust import remove

        remove(embeddings, [entry["id"] for entry in done])
        storage.save(embeddings, args.index)

    # Keep standard output pure JSON with --json
    output = sys.stderr if args.json == "-" else sys.stdout
    files = sum("link" not in entry for entry in done)
    links = len(done) - files
    print(f"Moved {files} file{'' if files == 1 else 's'}" + (f" and {links} link{'' if links == 1 else 's'} to them" if links else "") + f" into {os.path.abspath(args.move_to)}", file=output)
    for image, reason in kept:
        print(f"  left in place: {image['path']}: {reason}", file=output)
    for entry, reason in failed:
        print(f"  not moved: {entry['from']}: {reason}", file=sys.stderr)
    print(f"Manifest: {manifest}\nPut them back with: txtai-imagehash undo {manifest}", file=output)

    return PARTIAL if failed else OK
