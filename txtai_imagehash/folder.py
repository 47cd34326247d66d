"""
Folder module: walks image folders and keeps an image hash index in step with them, incrementally.
"""

import os
import stat

from PIL import Image

from .images import ImageError, failure

# File extensions Pillow can open: files with these names that fail to load are reported, other files are
# tried quietly and skipped when Pillow does not recognize them
Image.init()
EXTENSIONS = frozenset(extension.lower() for extension in Image.registered_extensions())


def walk(folder, errors=None, exclude=()):
    """
    Walks a folder recursively, following symbolic links to folders but never the same folder twice, so
    symlink loops end. A file reached twice (through a symlink) is listed once.

    Args:
        folder: folder path
        errors: optional list that collects an ImageError for every folder or file that cannot be read
        exclude: folders not to walk into (e.g. the index itself when it lives inside folder)

    Returns:
        generator of (absolute path, os.stat_result) for regular files, in sorted order per folder
    """

    root = os.path.abspath(folder)
    seen, visited = set(), set()
    excluded = {os.path.realpath(path) for path in exclude}

    def onerror(error):
        if errors is not None:
            errors.append(ImageError(error.filename or root, failure(error)))

    for directory, subdirs, files in os.walk(root, onerror=onerror, followlinks=True):
        try:
            info = os.stat(directory)
        except OSError as error:
            onerror(error)
            subdirs[:] = []
            continue

        # Symlink loop, second link to a folder already walked, or an excluded folder: prune
        key = (info.st_dev, info.st_ino)
        if key in visited or os.path.realpath(directory) in excluded:
            subdirs[:] = []
            continue
        visited.add(key)

        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            try:
                info = os.stat(path)
            except OSError as error:
                # Broken symlink or unreadable entry
                onerror(error)
                continue

            key = (info.st_dev, info.st_ino)
            if stat.S_ISREG(info.st_mode) and not (os.path.islink(path) and key in seen):
                seen.add(key)
                yield path, info


def isimage(path):
    """
    Checks if a file is worth hashing: its extension is one Pillow opens, or Pillow recognizes its header.

    Args:
        path: file path

    Returns:
        "extension" if the extension is an image extension, "header" if Pillow recognizes the content,
        None otherwise
    """

    if os.path.splitext(path)[1].lower() in EXTENSIONS:
        return "extension"

    try:
        with Image.open(path):
            return "header"
    except Exception:  # pylint: disable=W0703
        return None


def within(path, root):
    """
    Checks if a path is inside a folder.

    Args:
        path: path
        root: absolute folder path

    Returns:
        True if path is root or below it
    """

    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class Folder:
    """
    Keeps an Embeddings image hash index in step with a folder: new and changed files (by path, size and
    modification time) are hashed and upserted, rows of deleted files are removed. Each row's id is the file's
    absolute path; its data holds path, size, mtime (nanoseconds), width, height and the hash (`text`).
    """

    # Columns read back from an index to compare with the files on disk
    COLUMNS = "id, path, size, mtime"

    def __init__(self, embeddings, pipeline, store=False, workers=1, fast=False):
        """
        Creates a Folder synchronizer.

        Args:
            embeddings: txtai Embeddings instance, loaded or new
            pipeline: ImageHash pipeline that hashes the images
            store: keep the original image bytes in the index if True, otherwise only paths and metadata
            workers: hashing processes (see txtai_imagehash.hashes)
            fast: fast hashing with JPEG draft decoding (hashes may differ from exact ones by a few bits)
        """

        self.embeddings = embeddings
        self.pipeline = pipeline
        self.store = store
        self.workers = workers
        self.fast = fast

    def rows(self):
        """
        Reads the file rows of the index.

        Returns:
            {id: row}
        """

        count = self.embeddings.count() if self.embeddings.config else 0
        if not count:
            return {}

        return {row["id"]: row for row in self.embeddings.search(f"select {Folder.COLUMNS} from txtai", limit=count)}

    def sync(self, folder, progress=False, errors=None, exclude=()):
        """
        Brings the index in step with a folder.

        Args:
            folder: folder path
            progress: show a progress bar if True
            errors: optional list that collects an ImageError for each file that could not be read
            exclude: folders not to walk into

        Returns:
            {"added": n, "updated": n, "removed": n, "unchanged": n, "skipped": n, "failed": n}
        """

        # pylint: disable=R0914
        from .hashing import batchdocuments

        errors = errors if errors is not None else []
        start = len(errors)

        root = os.path.abspath(folder)
        rows = self.rows()

        # Files that are new or changed since the last run
        pending, present, skipped = [], set(), 0
        for path, info in walk(root, errors, exclude):
            row = rows.get(path)
            if row and row.get("size") == info.st_size and row.get("mtime") == info.st_mtime_ns:
                present.add(path)
                continue

            if isimage(path):
                pending.append((path, info))
            else:
                skipped += 1

        stats = {"added": 0, "updated": 0, "removed": 0, "unchanged": len(present), "skipped": skipped, "failed": 0}

        # Hash (in worker processes when asked) and store, streaming documents into the index
        def stream():
            files = dict(pending)
            for uid, data, tags in batchdocuments([(path, path) for path in files], self.pipeline, errors, self.workers, self.fast, progress):
                data.update(self.metadata(data, files[uid]))
                present.add(uid)
                stats["updated" if uid in rows else "added"] += 1
                yield uid, data, tags

        if self.embeddings.config and self.embeddings.count():
            self.embeddings.upsert(stream())
        else:
            self.embeddings.index(stream())

        # Remove rows of files under this folder that are gone, or that changed and no longer load
        removed = [uid for uid, row in rows.items() if within(row.get("path") or "", root) and uid not in present]
        if removed:
            self.embeddings.delete(removed)
        stats["removed"] = len(removed)

        # Files and folders that could not be read
        stats["failed"] = len(errors) - start
        return stats

    def metadata(self, data, info):
        """
        Adds file metadata to a document's data and drops the image bytes unless they are stored.

        Args:
            data: document data from txtai_imagehash.documents
            info: os.stat_result of the file

        Returns:
            dict of fields to update
        """

        image = data["object"] if self.store else data.pop("object")
        width, height = image.size
        return {"size": info.st_size, "mtime": info.st_mtime_ns, "width": width, "height": height}
