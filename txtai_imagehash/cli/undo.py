"""
Undo command: undo MANIFEST. Needs no index and no txtai.
"""

import sys

from .errors import OK, PARTIAL, UsageError
from .manifest import read
from .moves import undo


def run(args):
    """
    Puts the files a manifest lists back where they were.

    Args:
        args: parsed arguments

    Returns:
        exit code
    """

    try:
        restored, problems, notes = undo(args.manifest)
    except ValueError as error:
        raise UsageError(str(error)) from None

    for note in notes:
        print(note)
    print(f"Put back {len(restored)} file{'' if len(restored) == 1 else 's'}")
    index = read(args.manifest).get("index")
    if restored and index:
        print(f"They were removed from the index {index} when moved; add them back with: txtai-imagehash index FOLDER --index {index}")
    failures = [(entry, reason) for entry, reason in problems if not reason.startswith("already in place")]
    if len(problems) > len(failures):
        print(f"{len(problems) - len(failures)} already in place")
    for entry, reason in problems:
        if reason.startswith("already in place:"):
            print(f"  {entry['from']}: {reason}")
    for entry, reason in failures:
        print(f"  not restored: {entry['from']}: {reason}", file=sys.stderr)

    return PARTIAL if failures else OK
