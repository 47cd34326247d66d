"""
Command line: `txtai-imagehash` (also `python -m txtai_imagehash`).

Commands: index, search, dedup, undo, serve and demo, one module each. Exit codes: 0 success, 1 duplicates found
with --fail-on-duplicates, 2 usage errors, 3 some files could not be moved or put back.

Arguments are parsed and checked before anything heavy is imported: help, usage errors and undo answer at once, and
a command imports txtai when it needs an index.

- parser: the arguments
- indexes: opening, creating and syncing the index a command works on
- output: tables and messages
- moves: moving duplicates aside and putting them back; destination: the --move-to folder, checked; transfer: one
  file, never overwriting, no stray copies; manifest: the undo manifest, checked as a whole
- api: the txtai API class and extension that serve configures
- report: the HTML report
"""

import contextlib
import importlib
import sys

from .errors import USAGE, UsageError
from .parser import parser

# Command name -> module with its run(args)
COMMANDS = ("index", "search", "dedup", "undo", "serve", "demo")


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
        # Locks and other resources a command holds until it ends (see indexes.open_index)
        with contextlib.ExitStack() as args.resources:
            return importlib.import_module(f".{args.command}", __name__).run(args)
    except UsageError as error:
        print(f"txtai-imagehash {args.command}: error: {error}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("Interrupted", file=sys.stderr)
        return 130
