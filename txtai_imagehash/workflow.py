"""
Workflow module: txtai workflow glue that turns image sources into hash documents and indexes them.

The YAML application shipped with this package (APPLICATION) wires these into an `index` workflow:

    txtai_imagehash.workflow.ImageDocuments: image sources -> (id, {"object", "text", "path"}, tags) or an error
    txtai_imagehash.workflow.IndexTask:      runs txtai's `upsert`/`index` action on the documents only and
                                             reports one JSON-friendly result per input element
"""

import logging
import os
import re

from PIL import Image
from txtai.pipeline import Pipeline
from txtai.workflow import Task

from . import APPLICATION  # noqa: F401 (re-exported: the application that wires these tasks)
from .images import ImageError, describe, path
from .index import documents, printable
from .pipeline import ImageHash

logger = logging.getLogger(__name__)

# File url prefix, as txtai's FileTask accepts it
FILE = re.compile(r"^file://")


class ImageDocuments(Pipeline):
    """
    Maps image sources to txtai documents: (id, {"object": original image bytes, "text": hash, "path": path}, tags).
    An element that cannot be read becomes an error record {"id", "path", "error"} in its place, so one broken
    file never stops a batch.

    Elements are a path (str, `file://` url or pathlib path, the id defaults to the path), or (id, source) or
    (id, source, tags) where source is a path, PIL image, bytes or binary file object. Over the API, elements
    are JSON: "path" or ["id", "path"] (upload files first with txtai's /upload route to get server paths).
    """

    def __init__(self, application=None, pipeline="txtai_imagehash.ImageHash", limit=None):
        """
        Creates an ImageDocuments pipeline.

        Args:
            application: txtai application, set by txtai when the YAML configuration has an `application:` key
            pipeline: hash pipeline, either an ImageHash instance or the name of an application pipeline;
                      defaults to the application's `txtai_imagehash.ImageHash` pipeline, else ImageHash()
            limit: largest image file read in bytes (YAML key `limit`), defaults to
                   txtai_imagehash.images.MAX_FILE_BYTES; FIFOs, devices and other files that are not regular files
                   are always refused
        """

        self.application = application
        self.pipeline = pipeline
        self.limit = limit

    def __call__(self, elements):
        """
        Maps image sources to documents.

        Args:
            elements: element|list, see class docstring

        Returns:
            document or error record for a single element, list of them for a list
        """

        values = elements if isinstance(elements, list) else [elements]

        hasher = self.hasher()
        results = [self.document(element, hasher) for element in values]
        return results if isinstance(elements, list) else results[0]

    def hasher(self):
        """
        Resolves the hash pipeline.

        Returns:
            ImageHash pipeline
        """

        hasher = self.pipeline if self.pipeline else ImageHash()
        if isinstance(hasher, str):
            if not self.application:
                return ImageHash()
            if hasher not in self.application.pipelines:
                raise ValueError(f"ImageDocuments: the application has no pipeline named {hasher!r}")

            hasher = self.application.pipelines[hasher]

        if not getattr(hasher, "strings", True):
            raise ValueError("ImageDocuments: the hash pipeline must output hex strings (strings: true)")

        return hasher

    def document(self, element, hasher):
        """
        Maps one element to a document.

        Args:
            element: see class docstring
            hasher: ImageHash pipeline

        Returns:
            (id, {"object": bytes, "text": hash, "path": path}, tags) or {"id", "path", "error"}
        """

        uid, source, tags = None, element, None
        try:
            uid, source, tags = unpack(element)
        except ImageError as error:
            logger.warning("Skipped image: %s", error)
            return failure(uid, source, str(error))

        # Store the original file bytes: txtai buffers workflow documents with pickle, which keeps bytes but not the
        # attributes of a PIL image
        errors = []
        for _, data, _ in documents([(uid, source)], hasher, errors, limit=self.limit):
            return (uid, {**data, "object": getattr(data["object"], "encoded", None) or data["object"]}, tags)

        return failure(uid, source, str(errors[0]))


class IndexTask(Task):
    """
    Workflow task for txtai's `index` and `upsert` actions that passes only documents to the action. Error
    records from ImageDocuments pass through untouched, so the rest of a batch is indexed. Outputs one JSON-friendly
    result per element: {"id", "path", "text"} for an indexed image, {"id", "path", "error"} for a failure.
    """

    def accept(self, element):
        # Task.filteredrun passes the data field of (id, data, tags) elements here
        return isinstance(element, dict) and "text" in element and "error" not in element

    def __call__(self, elements, executor=None):
        return [summary(element) for element in super().__call__(elements, executor)]

    def execute(self, elements, executor):
        # A batch without documents (every element failed) skips the action: txtai's add action would open a new
        # documents buffer file (tmp*.docs) that the upsert finalizer only removes when it holds documents
        return [] if not elements else super().execute(elements, executor)


def unpack(element):
    """
    Splits a workflow element into id, image source and tags.

    Args:
        element: path, or (id, source) or (id, source, tags)

    Returns:
        (id, source, tags)
    """

    if isinstance(element, (tuple, list)):
        if len(element) not in (2, 3):
            raise ImageError(repr(element)[:100], "expected a path, (id, image) or (id, image, tags)")

        uid, source, tags = (*element, None) if len(element) == 2 else element
        return uid, strip(source), tags

    source = strip(element)
    if not isinstance(source, (str, os.PathLike, Image.Image, bytes, bytearray, memoryview)) and not hasattr(source, "read"):
        raise ImageError(repr(source)[:100], f"unsupported image source type {type(source).__name__}")

    uid = path(source)
    if uid is None:
        raise ImageError(describe(source), "an image that is not a path needs an id: pass (id, image)")

    return uid, source, None


def strip(source):
    """
    Removes a `file://` prefix from a path.

    Args:
        source: image source

    Returns:
        source without a file url prefix
    """

    return FILE.sub("", source) if isinstance(source, str) else source


def failure(uid, source, error):
    """
    Builds the error record of an element that could not be indexed.

    Args:
        uid: element id, if known
        source: image source
        error: error message, names the source and the reason

    Returns:
        {"id": id, "path": path, "error": message}; an id or path that is not valid UTF-8 is shown with its bytes
        escaped, so that the record is valid JSON text
    """

    name = path(source)
    return {"id": printable(uid) if isinstance(uid, str) else uid, "path": printable(name) if name else name, "error": error}


def isdocument(element):
    """
    Checks if an element is a document built by ImageDocuments.

    Args:
        element: workflow element

    Returns:
        True for (id, {"object", "text", ...}, tags) tuples
    """

    return isinstance(element, tuple) and len(element) == 3 and isinstance(element[1], dict) and "text" in element[1]


def summary(element):
    """
    Summarizes a workflow element for a JSON response: documents without their image bytes.

    Args:
        element: document or error record

    Returns:
        {"id", "path", "text"} for documents, other elements unchanged
    """

    if isdocument(element):
        uid, data, _ = element
        return {"id": uid, "path": data.get("path"), "text": data["text"]}

    return element
