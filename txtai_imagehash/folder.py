"""
Folder module: keeps an image hash index in step with a folder, incrementally.
"""

import os

from .files import isimage, walk, within
from .index import documents

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
            for uid, data, tags in documents([(path, path) for path in files], self.pipeline, errors, self.workers, self.fast, progress):
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
