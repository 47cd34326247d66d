"""
Parser module: the command line's arguments, parsed before anything heavy is imported.
"""

import argparse
import os
import sys

from importlib import metadata

from ..checks import SQLINT, integer
from .errors import USAGE


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
    root.add_argument("--version", action="version", version=f"%(prog)s {version()}")
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
        "--frames",
        choices=["first", "all"],
        default="first",
        help="first: hash the first frame of animations and multi-page TIFFs (default); all: also every further frame N "
        "as a row PATH#N, so that a still from an animation finds it (a recipe index: with --algorithm)",
    )

    # search
    command = commands.add_parser(
        "search", help="find the images nearest to an image", description="Lists the indexed images nearest to IMAGE, nearest first."
    )
    command.add_argument("image", metavar="IMAGE", help="image file to search for")
    command.add_argument("--index", metavar="PATH", required=True, help="index folder built by 'txtai-imagehash index'")
    command.add_argument("-k", "--limit", type=count, default=10, metavar="N", help="number of results (default 10)")
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
    command.add_argument(
        "--threshold", type=natural, metavar="D", help="largest hash distance between duplicates, in bits, under the hash length (default: the index algorithm's, 36 for the combined hash)"
    )
    command.add_argument(
        "--keep",
        choices=["pixels", "size", "oldest", "newest"],
        default="pixels",
        help="which image of a group to keep: most pixels (default), largest file, oldest or newest file",
    )
    command.add_argument(
        "--reference", metavar="DIR", action="append", default=[], help="files below DIR are always kept and never moved (repeatable)"
    )
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
        "--algorithm",
        metavar="NAME",
        help=(
            "hash algorithm of a new index. Without it, the robust index: combined hash, hashes inside borders and of "
            "flips and rotations, EXIF orientation, keypoints when the keypoints extra is installed. With it, the "
            "recipe's index of one hash: average, perceptual, difference, wavelet, color or combined"
        ),
    )
    command.add_argument(
        "--hash-size", type=positive, metavar="N", help="hash size for a new index (default 8; 2 to 64, combined 2 to 36, wavelet powers of two, color 1 to 16)"
    )
    command.add_argument(
        "--keypoints",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="ORB keypoints in a new index, so that crops find their originals (default: on when the keypoints extra is installed)",
    )
    command.add_argument("--workers", type=positive, default=os.cpu_count() or 1, metavar="N", help="hashing processes (default: one per CPU)")
    command.add_argument(
        "--fast",
        action="store_true",
        help="fast hashing: reduced-size decoding (JPEG draft mode, HEIC thumbnails, RAW previews), hashes may differ from exact ones by a few bits",
    )
    command.add_argument(
        "--store-images", action="store_true", help="also store the original image bytes in a new index (default: paths and metadata only)"
    )
    command.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def positive(value):
    """
    argparse type: an integer >= 1.
    """

    return whole(value, 1, f"expected an integer of 1 or more, got {value!r}")


def count(value):
    """
    argparse type: a number of results, from 1 to SQL's largest integer.
    """

    return whole(value, 1, f"expected an integer from 1 to {SQLINT}, got {value!r}", SQLINT)


def natural(value):
    """
    argparse type: an integer >= 0.
    """

    return whole(value, 0, f"expected a whole number of 0 or more, got {value!r}")


def whole(value, minimum, message, maximum=None):
    """
    Parses a whole number argument and checks it with txtai_imagehash.checks.integer.

    Args:
        value: argument string
        minimum: smallest value allowed
        message: error message for a number out of range
        maximum: largest value allowed, or None

    Returns:
        int
    """

    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None

    try:
        return integer("value", number, minimum, maximum)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None


def version():
    """
    Installed version of the package.

    Returns:
        version string
    """

    try:
        return metadata.version("txtai-imagehash")
    except metadata.PackageNotFoundError:
        return "unknown"
