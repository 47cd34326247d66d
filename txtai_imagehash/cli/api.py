"""
API module: the txtai API class and extension that `serve` configures (txtai's API_CLASS and EXTENSIONS settings)
for a saved index.

- API: loads the current version of the index (`index: PATH` in the application configuration), holds its write lock
  when writable, and writes every change as a new crash-safe version (txtai_imagehash.storage.save): one version per
  write batch (an upsert, a delete, a reindex), never in place. `/index` (txtai: rebuild the index from the documents
  added since) is refused, as it would replace the saved index; `/upsert` adds them. A read-only application answers
  403 to a workflow that writes. Image objects in search results are answered as the bytes they were stored as (the
  original file), not re-encoded.
- Routes: `/upload` into a private folder of the server, refused when read-only, bounded in size per request (the
  largest image file, txtai_imagehash.images.MAX_FILE_BYTES) and in total, removed when the server stops (files
  older than an hour go earlier).
"""

import atexit
import os
import re
import shutil
import tempfile
import time

from fastapi import APIRouter, HTTPException, Request
from txtai.api import API as Base, Extension, application
from txtai.app import Application, ReadOnlyError

from .. import images, storage
from ..robust import remove
from ..settings import read as readsettings

# Upload settings (the `upload:` key of the application configuration): largest request in bytes (None: the largest
# image file, txtai_imagehash.images.MAX_FILE_BYTES), largest total of the upload folder in bytes, seconds an uploaded
# file is kept
UPLOAD = {"limit": None, "total": 1024 * 1024 * 1024, "age": 3600}

# File suffixes an upload may ask for
SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,10}")


class API(Base):
    """
    txtai's API over a saved index: crash-safe versions for every write, one writer, no rebuild over the saved index.
    """

    def __init__(self, config, loaddata=True):
        config = Application.read(config)
        self.path = config.get("index")

        # One writer per index, for as long as the server runs
        self.held = None
        if self.path and config.get("writable"):
            self.held = storage.lock(self.path)
            self.held.__enter__()

        # Private upload folder: the serve command's, else one removed when the process exits
        self.uploads = None
        if "upload" in config:
            self.uploads = (config.get("upload") or {}).get("folder")
            if not self.uploads:
                self.uploads = tempfile.mkdtemp(prefix="txtai-imagehash-uploads-")
                atexit.register(shutil.rmtree, self.uploads, True)

        super().__init__(config, loaddata)

    def indexes(self, loaddata):
        if not self.path or not loaddata:
            super().indexes(loaddata)
            return

        # txtai loads the current version directory; without a `path` setting it never saves there
        self.config["path"] = storage.current(self.path)
        try:
            super().indexes(loaddata)
        finally:
            self.config.pop("path")

    def index(self):
        if self.path:
            raise ReadOnlyError(
                f"/index rebuilds the index from the documents added since and would replace the saved index {self.path}: use /upsert to add them"
            )

        super().index()

    def upsert(self):
        with self.lock:
            pending = bool(self.documents)
            super().upsert()
            if pending:
                self.save()

    def delete(self, ids):
        with self.lock:
            deleted = super().delete(ids)
            if deleted and "trim" in readsettings(self.embeddings.config):
                # The second rows of a robust index's images (trimmed hash, zooms) go with them
                remove(self.embeddings, deleted)
            if deleted:
                self.save()
            return deleted

    def reindex(self, config, function=None):
        with self.lock:
            super().reindex(config, function)
            self.save()

    def search(self, query, limit=None, weights=None, index=None, parameters=None, graph=False, request=None):
        return stored(super().search(query, limit, weights, index, parameters, graph, request))

    def batchsearch(self, queries, limit=None, weights=None, index=None, parameters=None, graph=False):
        return stored(super().batchsearch(queries, limit, weights, index, parameters, graph))

    def workflow(self, name, elements):
        try:
            # Run it here, so that an error is the request's answer (a workflow is a generator)
            return list(super().workflow(name, elements))
        except ReadOnlyError as error:
            raise HTTPException(status_code=403, detail=str(error)) from error

    def save(self):
        """
        Saves the index as a new version, when it has a path.
        """

        if self.path:
            storage.save(self.embeddings, self.path)


class Routes(Extension):
    """
    Adds the /upload route (txtai's own is disabled with `routes: {upload: false}`).
    """

    def __call__(self, app):
        router = APIRouter()
        router.add_api_route("/upload", upload, methods=["POST"])
        app.include_router(router)


async def upload(request: Request):
    """
    Uploads files into the server's private upload folder: multipart form data with `files` and an optional `suffix`.

    Args:
        request: the request

    Returns:
        list of server paths, for the workflows
    """

    api = application.get()
    if not api.config.get("writable") or not getattr(api, "uploads", None):
        raise HTTPException(status_code=403, detail="uploads are refused: the server is read-only")

    settings = {**UPLOAD, **{key: value for key, value in (api.config.get("upload") or {}).items() if key in UPLOAD}}
    if settings["limit"] is None:
        settings["limit"] = images.MAX_FILE_BYTES if images.MAX_FILE_BYTES is not None else settings["total"]
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        raise HTTPException(status_code=411, detail="an upload needs a Content-Length")
    if int(length) > settings["limit"]:
        raise HTTPException(status_code=413, detail=f"an upload of {length} bytes is over the limit of {settings['limit']} bytes")
    if expire(api.uploads, settings["age"]) + int(length) > settings["total"]:
        raise HTTPException(status_code=507, detail=f"the upload folder is full ({settings['total']} bytes): try again later")

    form = await request.form()
    try:
        suffix = form.get("suffix") or ""
        if suffix and not SUFFIX.fullmatch(suffix):
            raise HTTPException(status_code=422, detail=f"suffix {suffix[:20]!r} is not a file extension like .jpg")

        paths = []
        for part in form.getlist("files"):
            with tempfile.NamedTemporaryFile(mode="wb", dir=api.uploads, suffix=suffix, delete=False) as output:
                shutil.copyfileobj(part.file, output)
                paths.append(output.name)

        return paths
    finally:
        await form.close()


def stored(results):
    """
    Replaces image objects in search results by the bytes they were stored as (see txtai_imagehash.encoder): the API
    answers them as base64 of those bytes, where txtai would encode the image again.

    Args:
        results: search results, a list of rows or a list of lists of rows

    Returns:
        results
    """

    for row in results or []:
        if isinstance(row, list):
            stored(row)
        elif isinstance(row, dict):
            for key, value in row.items():
                if getattr(value, "encoded", None):
                    row[key] = value.encoded

    return results


def expire(folder, age):
    """
    Removes uploaded files older than age seconds.

    Args:
        folder: upload folder
        age: seconds

    Returns:
        bytes of the files left
    """

    total, now = 0, time.time()
    for entry in os.scandir(folder):
        info = entry.stat(follow_symlinks=False)
        if now - info.st_mtime > age:
            os.remove(entry.path)
        else:
            total += info.st_size

    return total
