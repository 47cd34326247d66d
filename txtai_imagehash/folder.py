"""
Folder module: keeps an image hash index in step with a folder, incrementally.
"""

import os

from .files import isimage, walk, within
from .hashing.variants import issecond, seconds
from .index import documents
from .pipeline import ImageHash
from .settings import pipeline as hashargs, read


class Folder:
    """
    Keeps an Embeddings image hash index in step with a folder: new and changed files (by path, size, modification
    time and names) are hashed and upserted, rows of deleted files are removed. Rows below a subfolder that cannot be
    read this time (permissions, I/O errors) are kept: its files may well be there. Each file is one row, whatever its
    names: its id is the file's real path, and its data holds path, size, mtime (nanoseconds), width, height, the
    hash (`text`) and `aliases`, the file's other names in the folder (symbolic and hard links). A robust index (see
    txtai_imagehash.build) gets its rows with the hashes inside borders and of the flips and rotations, and keypoints;
    a recipe index gets the rows of txtai_imagehash.documents.
    """

    # Columns read back from an index to compare with the files on disk
    COLUMNS = "id, path, size, mtime, aliases, image"

    def __init__(self, embeddings, pipeline=None, store=False, workers=1, fast=False, frames="first"):
        """
        Creates a Folder synchronizer.

        Args:
            embeddings: txtai Embeddings instance, loaded or new
            pipeline: ImageHash pipeline of a recipe index, defaults to the index's own settings
            store: keep the original image bytes in the index if True, otherwise only paths and metadata
            workers: hashing processes (see txtai_imagehash.hashes)
            fast: fast hashing with JPEG draft decoding for a recipe index (hashes may differ from exact ones by a
                  few bits; a robust index always decodes large JPEG files at reduced scale)
            frames: "all" also indexes every further frame of multi-frame images as a row "PATH#N" in a recipe index
                    (see txtai_imagehash.documents), "first" (default) the first frame only
        """

        if frames != "first" and "trim" in read(embeddings.config):
            raise ValueError('frames="all" needs a recipe index (an ImageHash pipeline of one algorithm), not a robust index')

        self.embeddings = embeddings
        self.settings = read(embeddings.config)
        self.pipeline = pipeline if pipeline else ImageHash(**hashargs(self.settings))
        self.store = store
        self.workers = workers
        self.fast = fast
        self.frames = frames

    def rows(self):
        """
        Reads the file rows of the index (not the second rows of robust images).

        Returns:
            {id: row}
        """

        count = self.embeddings.count() if self.embeddings.config else 0
        if not count:
            return {}

        rows = self.embeddings.search(f"select {Folder.COLUMNS} from txtai", limit=count)
        return {row["id"]: row for row in rows if not issecond(row["id"])}

    def sync(self, folder, progress=False, errors=None, exclude=()):
        """
        Brings the index in step with a folder.

        Args:
            folder: folder path
            progress: show a progress bar if True
            errors: optional list that collects an ImageError for each file that could not be read
            exclude: folders not to walk into

        Returns:
            {"added": n, "updated": n, "removed": n, "unchanged": n, "skipped": n, "failed": n, "kept": n rows kept
            below folders that could not be read, "images": n image rows in the index (not counting second rows)}
        """

        # pylint: disable=R0914
        errors = errors if errors is not None else []
        start = len(errors)

        root, named = os.path.realpath(folder), os.path.abspath(folder)
        rows = self.rows()

        # Rows of each file: its own and, for multi-frame images indexed with frames="all", one per further frame
        byfile = {}
        for uid, row in rows.items():
            byfile.setdefault(row.get("path") or uid, []).append(uid)

        # Files that are new or changed since the last run
        pending, present, skipped, unchanged = {}, set(), 0, 0
        for file in walk(root, errors, exclude):
            row = rows.get(file.path)
            if row and row.get("size") == file.info.st_size and row.get("mtime") == file.info.st_mtime_ns and aliases(row) == list(file.aliases):
                present.update(byfile.get(file.path, [file.path]))
                unchanged += 1
                continue

            if isimage(file.path):
                pending[file.path] = file
            else:
                skipped += 1

        stats = {"added": 0, "updated": 0, "removed": 0, "unchanged": unchanged, "skipped": skipped, "failed": 0, "kept": 0}

        # Folders the walk could not read: their rows are not removed
        unreadable = [name(error.source) for error in errors[start:] if os.path.isdir(error.source) for name in (os.path.abspath, os.path.realpath)]

        # Hash (in worker processes when asked) and store, streaming documents into the index
        missing = []

        def stream():
            for uid, data, tags in self.documents([(path, path) for path in pending], errors, progress, missing):
                if "object" in data:
                    data.update(self.metadata(data, pending[uid]))
                    present.add(uid)
                    stats["updated" if uid in rows else "added"] += 1
                elif data.get("frame_number"):
                    # A further frame's row: kept with its file
                    present.add(uid)

                yield uid, data, tags

        if self.embeddings.config and self.embeddings.count():
            self.embeddings.upsert(stream())
        else:
            self.embeddings.index(stream())

        # Remove rows of files under this folder that are gone, or that changed and no longer load, with their second
        # rows, and the second rows that changed images no longer have (a border, a centre that is not blank); rows
        # below folders that could not be read are kept
        removed = [uid for uid, row in rows.items() if (within(row.get("path") or "", root) or within(row.get("path") or "", named)) and uid not in present]
        kept = {uid for uid in removed if any(within(rows[uid].get("path") or "", folder) for folder in unreadable)}
        removed = [uid for uid in removed if uid not in kept]
        stats["kept"] = len(kept)
        known = {rowid for uid in pending if uid in rows for rowid in seconds(uid)}
        stale = [rowid for uid in removed for rowid in seconds(uid)] + [rowid for rowid in missing if rowid in known]
        if removed or stale:
            self.embeddings.delete(removed + stale)
        stats["removed"] = len(removed)
        stats["images"] = len((set(rows) - set(removed)) | present)

        # Files and folders that could not be read
        stats["failed"] = len(errors) - start
        return stats

    def documents(self, images, errors, progress, missing):
        """
        Hashes images into the documents of this index: a robust index's rows, or the recipe's documents.

        Args:
            images: list of (id, path)
            errors: list that collects unreadable images
            progress: show a progress bar
            missing: list that collects the ids of the second rows robust images do not have (see
                     txtai_imagehash.robust.rows)

        Returns:
            generator of (id, data, tags)
        """

        if "trim" in self.settings:
            # pylint: disable=C0415
            from .robust import indexer, rows

            return rows(images, indexer(self.embeddings), self.embeddings, errors, self.workers, progress, missing)

        return documents(images, self.pipeline, errors, self.workers, self.fast, progress, self.frames)

    def metadata(self, data, file):
        """
        Adds file metadata to a document's data and drops the image bytes unless they are stored.

        Args:
            data: document data
            file: txtai_imagehash.files.File

        Returns:
            dict of fields to update
        """

        image = data["object"] if self.store else data.pop("object")
        width, height = image.size
        fields = {"size": file.info.st_size, "mtime": file.info.st_mtime_ns, "width": width, "height": height}
        if file.aliases:
            fields["aliases"] = list(file.aliases)

        return fields


def aliases(row):
    """
    The other names of a file as its row stores them.

    Args:
        row: index row

    Returns:
        sorted list of paths
    """

    value = row.get("aliases")
    if isinstance(value, str):
        # pylint: disable=C0415
        import json

        value = json.loads(value) if value[:1] == "[" else [value]

    return sorted(value or [])
