"""
Serve command: serve --index PATH, txtai's API over an index.
"""

import os
import shutil
import signal
import sys
import tempfile

from .. import APPLICATION, storage
from ..settings import pipeline, read
from .errors import OK, UsageError

# The API class and the extension that serve a saved index (see txtai_imagehash.cli.api)
API, ROUTES = "txtai_imagehash.cli.api.API", "txtai_imagehash.cli.api.Routes"


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
    # The API class loads the index from `index` and saves every write as a new version (never in place, so no
    # `path` for txtai).
    application.pop("path", None)
    application["index"] = os.path.abspath(args.index)
    application["embeddings"] = {key: value for key, value in (application.get("embeddings") or {}).items() if key != "functions"}
    if args.read_only:
        application["writable"] = False

    # One writer per index: a writable server holds the index's write lock while it runs
    if application.get("writable"):
        try:
            args.resources.enter_context(storage.lock(args.index))
        except storage.LockedError as error:
            raise UsageError(f"{error} (or serve it --read-only)") from None

    # Uploads go through the package's /upload (size limits, a private folder removed when the server stops), not
    # txtai's
    uploads = None
    if "upload" in application:
        uploads = tempfile.mkdtemp(prefix="txtai-imagehash-uploads-")
        application["upload"] = {**(application.get("upload") or {}), "folder": uploads}
        application["routes"] = {**(application.get("routes") or {}), "upload": False}

    # Hash queries and workflows with the index's own algorithm and size
    if isinstance(application.get("txtai_imagehash.ImageHash"), dict):
        application["txtai_imagehash.ImageHash"].update(pipeline(read(config)))

    # txtai's API reads its YAML from the CONFIG environment variable (a path or the YAML itself), its API class from
    # API_CLASS and extensions from EXTENSIONS
    os.environ["CONFIG"] = yaml.safe_dump(application)
    os.environ["API_CLASS"] = API
    extensions = [x for x in os.environ.get("EXTENSIONS", "").split(",") if x and x != ROUTES]
    os.environ["EXTENSIONS"] = ",".join(extensions + [ROUTES])
    print(
        f"Serving {application['index']} at http://{args.host}:{args.port} (txtai API: /search, /count"
        + (", /workflow" if application.get("workflow") else "")
        + ("" if application.get("writable") else "; read-only")
        + ")",
        file=sys.stderr,
    )

    # uvicorn stops gracefully on SIGTERM, then raises it again with the handler it found: end here, so that the
    # upload folder is removed
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        uvicorn.run("txtai.api:app", host=args.host, port=args.port, log_level="warning")
    except Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        if uploads:
            shutil.rmtree(uploads, ignore_errors=True)

    return OK


class Stopped(Exception):
    """
    SIGTERM received: the server has stopped.
    """


def stop(signum, frame):
    """
    SIGTERM handler: ends the serve command.
    """

    raise Stopped()
