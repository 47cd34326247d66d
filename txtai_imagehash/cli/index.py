"""
Index command: index FOLDER --index PATH.
"""

from .errors import OK
from .indexes import folder, open_index, sync


def run(args):
    """
    Hashes the images of a folder into an index, incrementally.

    Args:
        args: parsed arguments

    Returns:
        exit code
    """

    path = folder(args.folder)
    embeddings, pipeline = open_index(args)
    sync(args, embeddings, pipeline, path)
    return OK
