"""
Serve command: serve --index PATH, txtai's API over an index.
"""

import os
import sys

from .. import APPLICATION, storage
from ..settings import pipeline, read
from .errors import OK, UsageError


def run(args):
    """
    Runs txtai's API (uvicorn) with the package's application, or another YAML application, over an index.

    Args:
        args: parsed arguments

    Returns:
        exit code
    """

    if args.config and not os.path.isfile(args.config):
        raise UsageError(f"--config {args.config} does not exist")

    config = storage.config(args.index)
    if config is None:
        raise UsageError(f"no index at {args.index}: build one with 'txtai-imagehash index FOLDER --index {args.index}'")

    # pylint: disable=C0415
    try:
        import uvicorn
        import yaml
    except ImportError:
        raise UsageError("serving needs txtai's API extra: pip install 'txtai-imagehash[api]'") from None

    with open(args.config or APPLICATION, encoding="utf-8") as f:
        application = yaml.safe_load(f) or {}

    # The index brings its own configuration. txtai's Application would resolve the YAML's SQL functions to Python
    # objects and, on the first write, save them into the index's config.json as unloadable strings: leave them out.
    application["path"] = os.path.abspath(args.index)
    application["embeddings"] = {key: value for key, value in (application.get("embeddings") or {}).items() if key != "functions"}
    if args.read_only:
        application["writable"] = False

    # Hash queries and workflows with the index's own algorithm and size
    if isinstance(application.get("txtai_imagehash.ImageHash"), dict):
        application["txtai_imagehash.ImageHash"].update(pipeline(read(config)))

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
