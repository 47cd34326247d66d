"""
Pairs module: keypoint matches between indexed images, for de-duplication and for checking one query against one
indexed image. Every image's stored descriptors are searched in the descriptor index in batches (one faiss search
per chunk of images), the images that hold most of their nearest descriptors become candidates, and candidates are
verified by an affine fit, in worker processes.
"""

from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

import numpy as np

from tqdm.auto import tqdm

from .descriptors import Descriptors
from .features import SIDE, matching
from .graph import CANDIDATES, NEIGHBORS, RATIO
from .verify import INLIERS, fit

# Images whose descriptors are searched at once
CHUNK = 256

# Descriptors above which an exact (flat) descriptor index is searched through an inverted file copy: searching every
# image's descriptors against all of them costs the square of their number
SEARCH = 16384

# Keypoints of each image searched for candidates (evenly taken from its stored ones; verification uses them all)
PROBES = 128

# Votes a candidate needs: keypoints of the image with a near descriptor in it (the affine fit then needs INLIERS)
VOTES = INLIERS // 2

# Largest error, as a share of the image side, of a keypoint fit composed with the fit back: two fits that do not
# undo each other are not one copy relation
CONSISTENCY = 0.05

# Stored keypoints that worker processes verify pairs with (set before the workers fork)
SHARED = {}


class Stored:
    """
    The stored keypoints of a keypoint index in memory: every descriptor in row order, every position, and the rows of
    each image slot.
    """

    def __init__(self, graph):
        """
        Reads the keypoints of a keypoint index.

        Args:
            graph: txtai_imagehash.keypoints.Keypoints
        """

        graph.flush()
        graph.descriptors.optimize()

        self.graph = graph
        # Codes in row order (an inverted file index is read back in one piece: no second copy)
        chunks = [codes for _, codes in graph.descriptors.indexed()] if len(graph.descriptors) else [np.zeros((0, graph.descriptors.width), dtype=np.uint8)]
        self.codes = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
        del chunks
        self.index = graph.descriptors if graph.descriptors.trained or len(self.codes) <= SEARCH else inverted(self.codes, graph.descriptors.nprobe)
        # Positions as stored (float16: 4 bytes a keypoint), converted per image
        self.points = graph.points
        self.starts = graph.starts
        self.ends = np.append(graph.starts[1:], len(self.codes)).astype(np.int64)

        # Latest slot of each index id that is not deleted (an upsert deletes a slot and adds a new one)
        self.slots = {int(uid): slot for slot, (uid, deleted) in enumerate(zip(graph.ids, graph.deleted)) if not deleted}

    def slot(self, indexid):
        """
        Slot of an index id.

        Args:
            indexid: index id

        Returns:
            slot, or None when the image has no keypoints
        """

        return self.slots.get(int(indexid))

    def count(self, slot):
        """
        Number of keypoints of a slot.

        Args:
            slot: slot

        Returns:
            count
        """

        return int(self.ends[slot] - self.starts[slot])

    def frame(self, slot):
        """
        Side, in position units, of the frame a slot's keypoints were found in: the detector's longest side.

        Args:
            slot: slot

        Returns:
            side
        """

        return SIDE

    def features(self, slot):
        """
        Keypoints of a slot.

        Args:
            slot: slot

        Returns:
            (positions float32 (n, 2), descriptors uint8 (n, bits / 8))
        """

        start, end = self.starts[slot], self.ends[slot]
        return self.points[start:end].astype(np.float32), self.codes[start:end]


def inverted(codes, nprobe):
    """
    Builds an inverted file copy of descriptors for searching them all (see Descriptors.rebuild).

    Args:
        codes: uint8 array (n, bits / 8)
        nprobe: inverted lists probed per query descriptor

    Returns:
        Descriptors
    """

    descriptors = Descriptors(nprobe, 8 * codes.shape[1])
    descriptors.add(codes)
    descriptors.rebuild()
    descriptors.spill.close()
    descriptors.spill, descriptors.spilled = None, 0
    return descriptors


def compare(source, target):
    """
    Matches two sets of keypoints and fits an affine transform between them: each source descriptor's nearest target
    descriptor, kept when within the match distance (features.MATCH of the bits) and clearly nearer than the next one
    (Lowe's ratio), then RANSAC.

    Args:
        source: (positions, descriptors) of the first image
        target: (positions, descriptors) of the second image

    Returns:
        (distinct inlier keypoints, 2 x 3 matrix mapping source positions to target positions or None)
    """

    (spoints, scodes), (tpoints, tcodes) = source, target
    if len(scodes) < INLIERS or len(tcodes) < 2:
        return 0, None

    # Hamming distances of every pair of descriptors, in words of 64 bits (plain numpy: safe in forked workers)
    distances = np.bitwise_count(words(scodes)[:, None, :] ^ words(tcodes)[None, :, :]).sum(axis=2, dtype=np.int64)
    rows = np.argpartition(distances, 1, axis=1)[:, :2]
    nearest = np.take_along_axis(distances, rows, axis=1)
    order = np.argsort(nearest, axis=1)
    rows, nearest = np.take_along_axis(rows, order, axis=1), np.take_along_axis(nearest, order, axis=1)

    keep = (nearest[:, 0] <= matching(8 * scodes.shape[1])) & (nearest[:, 0] < RATIO * nearest[:, 1])
    return fit(spoints[keep], tpoints[rows[keep, 0]])


def words(codes):
    """
    Views descriptors as words of 64 bits.

    Args:
        codes: uint8 array (n, bits / 8)

    Returns:
        uint64 array (n, bits / 64)
    """

    return np.ascontiguousarray(codes, dtype=np.uint8).view(np.uint64)


def candidates(stored, slots, limit=CANDIDATES):
    """
    Finds the candidate matches of images from their stored descriptors in one batch search of the descriptor index:
    the other images holding the nearest descriptors of most of their keypoints.

    Args:
        stored: Stored
        slots: slots to search
        limit: candidates kept per slot

    Returns:
        {slot: [candidate slots, most votes first]}; a candidate needs VOTES of the image's PROBES keypoints
    """

    slots = [slot for slot in slots if stored.count(slot)]
    if not slots:
        return {}

    # A spread subset of each image's keypoints votes
    probes = [stored.features(slot)[1][:: max(1, -(-stored.count(slot) // PROBES))] for slot in slots]
    codes = np.concatenate(probes)
    owners = np.repeat(np.array(slots, dtype=np.int64), [len(x) for x in probes])

    # The image's own descriptors are among the nearest: one neighbour more
    distances, rows = stored.index.search(codes, NEIGHBORS + 1)
    found = np.searchsorted(stored.starts, np.maximum(rows, 0), side="right") - 1
    valid = (rows >= 0) & (distances <= matching(stored.graph.descriptors.bits)) & (found != owners[:, None]) & ~stored.graph.deleted[found]

    # Votes: query keypoints with at least one of their neighbours in the image
    keypoints = np.broadcast_to(np.arange(len(codes))[:, None], rows.shape)
    votes = np.unique(np.stack([keypoints[valid], found[valid]], axis=1), axis=0)
    pairs, counts = np.unique(np.stack([owners[votes[:, 0]], votes[:, 1]], axis=1), axis=0, return_counts=True)

    output = {}
    for (slot, candidate), count in zip(pairs.tolist(), counts.tolist()):
        if count >= VOTES:
            output.setdefault(slot, []).append((count, candidate))

    return {slot: [candidate for _, candidate in sorted(values, key=lambda x: (-x[0], x[1]))[:limit]] for slot, values in output.items()}


def matches(stored, slots=None, workers=1, progress=False, limit=CANDIDATES):
    """
    Finds every verified keypoint match among indexed images: candidates by batch search, each verified by an affine
    fit in worker processes, in both directions. A match holds when both fits hold and undo each other: its inliers
    are the smaller count of the two.

    Args:
        stored: Stored
        slots: slots to match, defaults to every image with keypoints
        workers: processes verifying candidates
        progress: show a progress bar
        limit: candidates verified per image

    Returns:
        list of (slot, slot, inliers, matrix) with the matrix mapping the first image's positions to the second's
    """

    slots = sorted(stored.slots.values()) if slots is None else list(slots)
    chunks = [slots[x : x + CHUNK] for x in range(0, len(slots), CHUNK)]

    fits = {}
    with tqdm(total=len(slots), disable=not progress, unit="img", desc="Matching keypoints") as bar:
        for pairs, count in tasks(stored, chunks, limit, workers):
            fits.update({(slot, other): (inliers, matrix) for slot, other, inliers, matrix in pairs})
            bar.update(count)

    # The other direction of every fit found one way only
    missing = [(other, slot) for slot, other in fits if (other, slot) not in fits]
    for (slot, other), (inliers, matrix) in zip(missing, (compare(stored.features(a), stored.features(b)) for a, b in missing)):
        fits[(slot, other)] = (inliers, matrix)

    output = []
    for (slot, other), (inliers, matrix) in fits.items():
        back, reverse = fits.get((other, slot), (0, None))
        if slot < other and matrix is not None and reverse is not None and consistent(matrix, reverse, stored.frame(slot)):
            output.append((slot, other, min(inliers, back), matrix))

    return output


def consistent(forward, backward, side):
    """
    Checks that two affine fits undo each other: the corners of the first image, mapped there and back, land within
    CONSISTENCY of the image side.

    Args:
        forward: 2 x 3 fit from the first image to the second
        backward: 2 x 3 fit from the second image to the first
        side: side of the first image's frame, in the fits' units

    Returns:
        True when the fits agree
    """

    corners = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float64)
    there = corners @ np.asarray(forward)[:, :2].T + np.asarray(forward)[:, 2]
    back = there @ np.asarray(backward)[:, :2].T + np.asarray(backward)[:, 2]
    return float(np.abs(back - corners).max()) <= CONSISTENCY * side


def tasks(stored, chunks, limit, workers):
    """
    Searches chunks of images here and verifies their candidates here or in worker processes.

    Args:
        stored: Stored
        chunks: lists of slots
        limit: candidates verified per image
        workers: processes

    Returns:
        generator of (verified pairs, images done)
    """

    SHARED["stored"] = stored
    if workers <= 1 or "fork" not in get_all_start_methods():
        for chunk in chunks:
            yield verify(candidates(stored, chunk, limit)), len(chunk)
        return

    # Workers inherit the stored keypoints when they fork; only slot numbers travel
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("fork")) as executor:
        futures = [(executor.submit(verify, candidates(stored, chunk, limit)), len(chunk)) for chunk in chunks]
        for future, count in futures:
            yield future.result(), count


def verify(pairs):
    """
    Verifies candidate pairs with the stored keypoints shared with this process.

    Args:
        pairs: {slot: [candidate slots]}

    Returns:
        list of (slot, candidate, inliers, matrix) for verified pairs
    """

    stored = SHARED["stored"]
    output = []
    for slot, others in pairs.items():
        for other in others:
            inliers, matrix = compare(stored.features(slot), stored.features(other))
            if matrix is not None:
                output.append((slot, other, inliers, matrix))

    return output
