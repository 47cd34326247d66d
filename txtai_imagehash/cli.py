"""
Command line module: `txtai-imagehash` (also `python -m txtai_imagehash`).

Commands: index, search, dedup, undo, serve and demo. Exit codes: 0 success, 1 duplicates found with
--fail-on-duplicates, 2 usage errors, 3 some files could not be moved or put back.

Heavy imports (txtai, torch) happen inside the commands, so help and usage errors answer at once.
"""

import argparse
import json
import logging
import os
import shutil
import sys

# Exit codes
OK, DUPLICATES, USAGE, PARTIAL = 0, 1, 2, 3


class UsageError(Exception):
    """
    A usage error: the message says what to do. Exits with code 2.
    """


class Parser(argparse.ArgumentParser):
    """
    ArgumentParser whose errors end with a pointer to the command's help.
    """

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\nRun '{self.prog} --help' for the options.\n")


def parser():
    """
    Builds the argument parser.

    Returns:
        argparse.ArgumentParser
    """

    root = Parser(
        prog="txtai-imagehash",
        description="Find near-duplicate images with a txtai index of perceptual hashes.",
        epilog="Start with 'txtai-imagehash demo'. Exit codes: 0 ok, 1 duplicates found (--fail-on-duplicates), "
        "2 usage error, 3 some files could not be moved or put back.",
    )
    commands = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    # index
    command = commands.add_parser(
        "index",
        help="hash the images of a folder into an index (incremental)",
        description=(
            "Walks FOLDER recursively and hashes every image Pillow can open into a txtai index at --index. "
            "Run it again to hash only new or changed files and remove rows of deleted ones."
        ),
    )
    command.add_argument("folder", metavar="FOLDER", help="folder of images")
    indexoptions(command, required=True)
    command.add_argument(
        "--keypoints",
        action="store_true",
        help="also index ORB keypoints in a new index, so that search finds the originals of crops (needs the keypoints extra)",
    )

    # search
    command = commands.add_parser(
        "search", help="find the images nearest to an image", description="Lists the indexed images nearest to IMAGE, nearest first."
    )
    command.add_argument("image", metavar="IMAGE", help="image file to search for")
    command.add_argument("--index", metavar="PATH", required=True, help="index folder built by 'txtai-imagehash index'")
    command.add_argument("-k", "--limit", type=positive, default=10, metavar="N", help="number of results (default 10)")
    command.add_argument("--max-distance", type=natural, metavar="D", help="only results at this distance or less")
    command.add_argument(
        "--metric",
        choices=["hamming", "distance"],
        default="hamming",
        help="hamming: differing bits (default); distance: the txtai recipe's Levenshtein distance of hex strings",
    )
    command.add_argument("--json", action="store_true", help="print JSON instead of a table")

    # dedup
    command = commands.add_parser(
        "dedup",
        help="find groups of duplicates, report them, optionally move them aside",
        description=(
            "Finds groups of near-duplicate images in FOLDER, in an index, or both (FOLDER is indexed into --index "
            "first). Each group's keeper is marked. Nothing is ever deleted: --move-to moves the other images of each "
            "group into a folder and writes a manifest for 'txtai-imagehash undo'."
        ),
    )
    command.add_argument("folder", metavar="FOLDER", nargs="?", help="folder of images (optional with --index)")
    indexoptions(command, required=False)
    command.add_argument("--threshold", type=natural, metavar="D", help="largest Hamming distance between duplicates (default: the dedup module's)")
    command.add_argument("--json", nargs="?", const="-", metavar="FILE", help="write the groups as JSON to FILE, or to standard output without FILE")
    command.add_argument("--html", metavar="FILE", help="write a self-contained HTML report with thumbnails")
    command.add_argument("--move-to", metavar="DIR", help="move every non-keeper into DIR, keeping relative paths, and write an undo manifest")
    command.add_argument("--fail-on-duplicates", action="store_true", help="exit with code 1 when duplicates are found (for CI)")

    # undo
    command = commands.add_parser(
        "undo",
        help="put files moved by 'dedup --move-to' back",
        description="Moves every file listed in MANIFEST back to where it was. Never overwrites a file.",
    )
    command.add_argument("manifest", metavar="MANIFEST", help="manifest JSON written by 'dedup --move-to'")

    # serve
    command = commands.add_parser(
        "serve",
        help="serve the txtai API over an index",
        description=("Starts the txtai API (uvicorn) over an index: /search takes SQL with distance(...) and hamming(...)."),
    )
    command.add_argument("--index", metavar="PATH", required=True, help="index folder built by 'txtai-imagehash index'")
    command.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    command.add_argument("--port", type=positive, default=8000, help="port (default 8000)")
    command.add_argument(
        "--read-only", action="store_true", help="refuse every change to the index (the package's application lets its index workflow add images)"
    )
    command.add_argument("--config", metavar="YAML", help="txtai application YAML to serve instead of the package's")

    # demo
    command = commands.add_parser(
        "demo",
        help="build a sample collection, find its duplicates, write the HTML report",
        description=(
            "Builds a small photo collection (scikit-image's sample photos and near-duplicates of them) in --output, "
            "indexes it, finds the duplicates and writes report.html."
        ),
    )
    command.add_argument("--output", metavar="DIR", default="txtai-imagehash-demo", help="folder to create (default ./txtai-imagehash-demo)")
    command.add_argument("--threshold", type=natural, metavar="D", help="largest Hamming distance between duplicates")
    command.add_argument("--quiet", action="store_true", help="no progress bar")

    return root


def indexoptions(command, required):
    """
    Adds the options that build an index.
    """

    command.add_argument(
        "--index",
        metavar="PATH",
        required=required,
        help="index folder (a txtai Embeddings index)" + ("" if required else "; without it, a temporary index in memory"),
    )
    command.add_argument(
        "--algorithm", metavar="NAME", help="hash algorithm for a new index: average (default), perceptual, difference, wavelet, color, combined"
    )
    command.add_argument("--hash-size", type=positive, metavar="N", help="hash size for a new index (default 8: 64-bit hashes)")
    command.add_argument("--workers", type=positive, default=1, metavar="N", help="hashing processes (default 1)")
    command.add_argument(
        "--fast", action="store_true", help="fast hashing: reduced-scale JPEG decoding, hashes may differ from exact ones by a few bits"
    )
    command.add_argument(
        "--store-images", action="store_true", help="also store the original image bytes in a new index (default: paths and metadata only)"
    )
    command.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def positive(value):
    """
    argparse type: an integer >= 1.
    """

    number = natural(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected an integer of 1 or more, got {value!r}")
    return number


def natural(value):
    """
    argparse type: an integer >= 0.
    """

    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of 0 or more, got {value!r}")
    return number


def main(argv=None):
    """
    Runs the command line.

    Args:
        argv: arguments, defaults to sys.argv[1:]

    Returns:
        exit code
    """

    # Tables and messages in the order they happen, also when piped
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)

    args = parser().parse_args(argv)
    if not args.command:
        parser().print_help(sys.stderr)
        return USAGE

    try:
        return COMMANDS[args.command](args)
    except UsageError as error:
        print(f"txtai-imagehash {args.command}: error: {error}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return 130


def say(args, message):
    """
    Prints a progress or summary message to standard error, unless --quiet.
    """

    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def progress(args):
    """
    Shows a progress bar on a terminal, unless --quiet.
    """

    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def settings(args, embeddings=None):
    """
    Hash settings of an index: from an existing index's configuration, else from the command line.

    Args:
        args: parsed arguments
        embeddings: loaded Embeddings or None

    Returns:
        {"algorithm": name, "size": n}, plus "keypoints": True for a keypoint index
    """

    # pylint: disable=C0415
    from .algorithms import names

    wanted = {"algorithm": getattr(args, "algorithm", None), "size": getattr(args, "hash_size", None)}
    if wanted["algorithm"] and wanted["algorithm"] not in names():
        raise UsageError(f"unknown --algorithm {wanted['algorithm']!r}: choose one of {', '.join(names())}")

    keypoints = getattr(args, "keypoints", False)
    if embeddings is not None:
        stored = {"algorithm": "average", "size": 8, **(embeddings.config.get("imagehash") or {})}
        if keypoints and not stored.get("keypoints"):
            raise UsageError(f"the index at {args.index} has no keypoints: drop --keypoints, or build a new index at another --index path")

        for key, value in wanted.items():
            if value is not None and value != stored[key]:
                option = "--algorithm" if key == "algorithm" else "--hash-size"
                raise UsageError(
                    f"the index at {args.index} uses {key} {stored[key]!r}, not {value!r}: drop {option}, "
                    "or build a new index at another --index path"
                )
        return stored

    values = {"algorithm": wanted["algorithm"] or "average", "size": wanted["size"] or 8}
    return {**values, "keypoints": True} if keypoints else values


def open_index(args, create=True):
    """
    Loads the index at args.index, or creates a new one (in memory when args.index is not set).

    Args:
        args: parsed arguments
        create: create a new index if none exists, else raise a UsageError

    Returns:
        (Embeddings, ImageHash pipeline)
    """

    # pylint: disable=C0415
    from txtai import Embeddings

    from . import storage
    from .index import config
    from .pipeline import ImageHash

    path = getattr(args, "index", None)
    if path and storage.exists(path):
        embeddings = storage.load(path)
        values = settings(args, embeddings)
    elif path and os.path.lexists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise UsageError(f"{path} exists but is not a txtai index: choose a new or empty folder for --index")
    elif not create:
        raise UsageError(f"no index at {path}: build one with 'txtai-imagehash index FOLDER --index {path}'")
    else:
        values = settings(args)
        embeddings = Embeddings(config(imagehash=values, **keypoints(values)))

    return embeddings, ImageHash(values["algorithm"], values["size"])


def keypoints(values):
    """
    Configuration of the keypoint index of a new index: keypoints read from each row's file, as hashed (no EXIF
    orientation).

    Args:
        values: hash settings, see settings()

    Returns:
        {"graph": configuration} or {} when keypoints are off
    """

    if not values.get("keypoints"):
        return {}

    # pylint: disable=C0415
    from .keypoints import keypointconfig

    try:
        return {"graph": keypointconfig(exif=False, paths=True)}
    except ImportError as error:
        raise UsageError(str(error)) from None


def folder(path):
    """
    Validates a folder argument.
    """

    if not os.path.exists(path):
        raise UsageError(f"folder {path} does not exist")
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a folder: give the folder that holds the images")
    return path


def sync(args, embeddings, pipeline, path):
    """
    Brings an index in step with a folder, saves it when it has a path and prints the summary and the files
    that could not be read.

    Returns:
        statistics dict, see txtai_imagehash.folder.Folder.sync
    """

    # pylint: disable=C0415
    from . import storage
    from .folder import Folder

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
    if errors:
        print(f"Could not read {len(errors)} file{'s' if len(errors) > 1 else ''}:", file=sys.stderr)
        for error in errors:
            print(f"  {error.source}: {error.reason}", file=sys.stderr)

    return stats


def index(args):
    """
    index FOLDER --index PATH
    """

    path = folder(args.folder)
    embeddings, pipeline = open_index(args)
    sync(args, embeddings, pipeline, path)
    return OK


def search(args):
    """
    search IMAGE --index PATH
    """

    # pylint: disable=C0415
    from .images import ImageError
    from .query import query
    from .search import haskeypoints

    embeddings, pipeline = open_index(args, create=False)

    try:
        value = pipeline(args.image)
        results = kpsearch(args, embeddings) if haskeypoints(embeddings) else None
    except ImageError as error:
        raise UsageError(f"cannot read IMAGE {error}") from None

    if results is None:
        sql = query(value, select="id, path, width, height, size", metric=args.metric, limit=args.limit, maxdistance=args.max_distance)
        results = [metadata(row, row[args.metric]) for row in embeddings.search(sql)]

    if args.json:
        print(json.dumps({"query": os.path.abspath(args.image), "hash": value, "metric": args.metric, "results": results}, indent=2))
        return OK

    inliers = results and "inliers" in results[0]
    if results:
        print(f"{args.metric[:8]:>8}  " + ("inliers  " if inliers else "") + f"{'size':>11}  path")
    else:
        print("No results" + (f" within distance {args.max_distance}" if args.max_distance is not None else ""))
    for result in results:
        print(f"{result['distance']:>8}  " + (f"{result['inliers']:>7}  " if inliers else "") + f"{dimensions(result):>11}  {result['path'] or result['id']}")

    return OK


def kpsearch(args, embeddings):
    """
    Searches an index with keypoints with txtai_imagehash.search(): keypoint matches first, by inlier keypoints,
    then hash matches by Hamming distance (the default threshold of the index's algorithm unless --max-distance).

    Args:
        args: parsed arguments
        embeddings: Embeddings with a keypoint index

    Returns:
        list of results
    """

    # pylint: disable=C0415
    from .search import search as robust

    args.metric = "hamming"
    rows = robust(embeddings, args.image, limit=args.limit, maxdistance=args.max_distance)
    if not rows:
        return []

    # File metadata of the rows found; ids are bound as parameters
    parameters = {f"p{x}": str(row["id"]) for x, row in enumerate(rows)}
    sql = f"select id, path, width, height, size from txtai where id in ({', '.join(f':{name}' for name in parameters)})"
    files = {row["id"]: row for row in embeddings.search(sql, len(rows), parameters=parameters)}

    return [{**metadata(files.get(str(row["id"]), row), row["distance"]), "inliers": row["inliers"]} for row in rows]


def metadata(row, distance):
    """
    Formats a search result.

    Args:
        row: index row with id, path, width, height and size
        distance: distance to the query

    Returns:
        dict
    """

    return {"id": row["id"], "path": row.get("path"), "distance": distance, "width": row.get("width"), "height": row.get("height"), "bytes": row.get("size")}


def dimensions(image):
    """
    "WxH" for an image dict, or "?".
    """

    return f"{image['width']}x{image['height']}" if image.get("width") and image.get("height") else "?"


def dedup(args):
    """
    dedup FOLDER | --index PATH
    """

    # pylint: disable=C0415,R0912
    if not args.folder and not args.index:
        raise UsageError("give a FOLDER, an --index PATH, or both (the folder is indexed into PATH first)")

    path = folder(args.folder) if args.folder else None
    if args.move_to and path and os.path.abspath(args.move_to).startswith(os.path.abspath(path).rstrip(os.sep) + os.sep):
        raise UsageError(f"--move-to {args.move_to} is inside {path}: the moved files would be found again; choose a folder outside it")

    embeddings, pipeline = open_index(args, create=bool(path))
    if path:
        sync(args, embeddings, pipeline, path)

    groups = finddups(embeddings, args.threshold)
    source = os.path.abspath(path) if path else args.index

    if args.json:
        content = jsonify(groups)
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


def finddups(embeddings, threshold):
    """
    Runs the dedup module over an index.
    """

    # pylint: disable=C0415
    from .dedup import dedup as run

    return run(embeddings) if threshold is None else run(embeddings, threshold=threshold)


def jsonify(groups):
    """
    Groups as JSON, by the dedup module's tojson.
    """

    # pylint: disable=C0415
    from .dedup import tojson

    content = tojson(groups)
    return content if isinstance(content, str) else json.dumps(content, indent=2)


def table(groups):
    """
    Prints duplicate groups as a table.
    """

    from .report import humanize  # pylint: disable=C0415

    for number, group in enumerate(groups, start=1):
        print(f"Group {number} ({len(group['images'])} images)")
        for image in group["images"]:
            label = "KEEP" if image["id"] == group["keeper"] else f"dup {image.get('distance')}"
            print(f"  {label:<7} {dimensions(image):>11} {humanize(image.get('bytes')):>11}  {image.get('path') or image['id']}")

    duplicates = sum(len(group["images"]) - 1 for group in groups)
    print(
        f"{len(groups)} duplicate group{'' if len(groups) == 1 else 's'}, {duplicates} duplicate{'' if duplicates == 1 else 's'}"
        if groups
        else "No duplicates found"
    )


def move(args, embeddings, groups, path):
    """
    Moves non-keepers aside, removes their rows from a saved index and prints the undo command.
    """

    # pylint: disable=C0415
    from . import storage
    from .moves import move as run

    if not groups:
        return OK

    index = os.path.abspath(args.index) if args.index else None
    manifest, done, failed = run(groups, args.move_to, root=os.path.abspath(path) if path else None, index=index)

    # The index follows the files: moved files are no longer in the collection
    if done and args.index:
        embeddings.delete([entry["id"] for entry in done])
        storage.save(embeddings, args.index)

    # Keep standard output pure JSON with --json
    output = sys.stderr if args.json == "-" else sys.stdout
    print(f"Moved {len(done)} file{'' if len(done) == 1 else 's'} into {os.path.abspath(args.move_to)}", file=output)
    for entry, reason in failed:
        print(f"  not moved: {entry['from']}: {reason}", file=sys.stderr)
    print(f"Manifest: {manifest}\nPut them back with: txtai-imagehash undo {manifest}", file=output)

    return PARTIAL if failed else OK


def undo(args):
    """
    undo MANIFEST
    """

    # pylint: disable=C0415
    from .moves import read, undo as run

    try:
        restored, problems = run(args.manifest)
    except ValueError as error:
        raise UsageError(str(error)) from None

    print(f"Put back {len(restored)} file{'' if len(restored) == 1 else 's'}")
    index = read(args.manifest).get("index")
    if restored and index:
        print(f"They were removed from the index {index} when moved; add them back with: txtai-imagehash index FOLDER --index {index}")
    failures = [(entry, reason) for entry, reason in problems if reason != "already in place"]
    if len(problems) > len(failures):
        print(f"{len(problems) - len(failures)} already in place")
    for entry, reason in failures:
        print(f"  not restored: {entry['from']}: {reason}", file=sys.stderr)

    return PARTIAL if failures else OK


def serve(args):
    """
    serve --index PATH
    """

    # pylint: disable=C0415
    try:
        import uvicorn
        import yaml
    except ImportError:
        raise UsageError("serving needs txtai's API extra: pip install 'txtai-imagehash[api]'") from None

    configuration = args.config or os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.yml")
    if args.config and not os.path.isfile(args.config):
        raise UsageError(f"--config {args.config} does not exist")

    if os.path.isfile(configuration):
        with open(configuration, encoding="utf-8") as f:
            application = yaml.safe_load(f) or {}
    else:
        # No YAML application shipped: the txtai API with the plugin's index configuration
        from .index import config

        application = {"embeddings": config()}

    if not os.path.isfile(os.path.join(args.index, "config.json")):
        raise UsageError(f"no index at {args.index}: build one with 'txtai-imagehash index FOLDER --index {args.index}'")

    # The index brings its own configuration. txtai's Application would resolve the YAML's SQL functions to Python
    # objects and, on the first write, save them into the index's config.json as unloadable strings: leave them out.
    application["path"] = os.path.abspath(args.index)
    application["embeddings"] = {key: value for key, value in (application.get("embeddings") or {}).items() if key != "functions"}
    if args.read_only:
        application["writable"] = False

    # Hash queries and workflows with the index's own algorithm and size
    with open(os.path.join(args.index, "config.json"), encoding="utf-8") as f:
        stored = json.load(f).get("imagehash")
    if stored and isinstance(application.get("txtai_imagehash.ImageHash"), dict):
        application["txtai_imagehash.ImageHash"].update(stored)

    # txtai's API reads its YAML from the CONFIG environment variable (a path or the YAML itself)
    os.environ["CONFIG"] = yaml.safe_dump(application)
    print(
        f"Serving {application['path']} at http://{args.host}:{args.port} (txtai API: /search, /count"
        + (", /workflow" if application.get("workflow") else "")
        + ")",
        file=sys.stderr,
    )
    uvicorn.run("txtai.api:app", host=args.host, port=args.port, log_level="warning")
    return OK


def demo(args):
    """
    demo [--output DIR]
    """

    # pylint: disable=C0415
    from .demo import build

    output = os.path.abspath(args.output)
    marker = os.path.join(output, ".txtai-imagehash-demo")
    if os.path.isfile(marker):
        # A previous demo: only files this command made
        shutil.rmtree(output)
    elif os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise UsageError(f"{output} is not empty and not a previous demo: choose another folder with --output")

    os.makedirs(output, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as f:
        f.write("Made by 'txtai-imagehash demo': the next demo run replaces this folder.\n")

    collection = os.path.join(output, "collection")
    try:
        info = build(collection)
    except ImportError as error:
        raise UsageError(str(error)) from None

    print(
        f"Built a collection of {len(info['files'])} files in {collection}: {info['photos']} photos, {info['duplicates']} edited copies "
        "(resized, re-compressed, cropped, tilted, brightened, captioned) and 1 truncated file"
    )

    args.index, args.store_images, args.algorithm, args.hash_size = os.path.join(output, "index"), False, None, None
    args.workers, args.fast = 1, False
    embeddings, pipeline = open_index(args)
    sync(args, embeddings, pipeline, collection)

    groups = finddups(embeddings, args.threshold)
    print()
    table(groups)

    # pylint: disable=C0415
    from .report import write

    with open(os.path.join(output, "duplicates.json"), "w", encoding="utf-8") as f:
        f.write(jsonify(groups) + "\n")
    report = write(groups, os.path.join(output, "report.html"), title="Duplicate images: txtai-imagehash demo", source=collection)

    print(f"\nReport: {report}\n  open it in a browser: file://{report}")
    print(f"Try next:\n  txtai-imagehash search {os.path.join(collection, 'edited', 'rocket-cropped.jpg')} --index {args.index}")
    print(f"  txtai-imagehash dedup {collection} --index {args.index} --move-to {os.path.join(output, 'duplicates')}")
    return OK


COMMANDS = {"index": index, "search": search, "dedup": dedup, "undo": undo, "serve": serve, "demo": demo}
