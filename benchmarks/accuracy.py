"""
Accuracy benchmark: how often near-duplicate search finds the original of an attacked photo.

Indexes real photos (scikit-image's, or every image in a folder) plus unrelated distractor images, queries with
each photo attacked every way in txtai_imagehash.samples (resize, JPEG, crops, flip, rotations, brightness,
contrast, grayscale, blur, border, caption, squash) and with unrelated distractor queries, and reports for every
method: recall@1 per attack and overall, pairwise precision/recall/F1 at the default threshold, the largest
threshold that keeps pairwise precision >= 0.99, PR curve points, and query time. The recipe (average hash,
Levenshtein distance on hex strings, txtai's near-duplicate example) is the baseline. Stage 2 (keypoints, needs the
`keypoints` extra) scores a keypoint match as minus its inlier keypoints, so it ranks before any hash distance.

Usage:
    python benchmarks/accuracy.py [FOLDER] [--methods recipe,stage1] [--distractors 24] [--json results.json]
"""

import argparse
import json
import statistics
import sys
import time

import numpy as np

from txtai import Embeddings

from txtai_imagehash import ImageHash, config, documents, query
from txtai_imagehash.robust import build, search, variants
from txtai_imagehash.samples import ATTACKS, attacks, distractors, photos

# Pairwise precision the calibrated threshold must keep
PRECISION = 0.99


class Recipe:
    """
    txtai's near-duplicate image recipe: hash with ImageHash, rank rows in SQL by a distance function.
    """

    def __init__(self, algorithm="average", metric="distance"):
        self.pipeline = ImageHash(algorithm)
        self.metric = metric
        self.default = None
        self.embeddings, self.count = None, 0

    def index(self, images):
        self.embeddings = Embeddings(config())
        self.embeddings.index(documents(list(images.items()), self.pipeline))
        self.count = len(images)

    def rank(self, image):
        sql = query(self.pipeline(image), select="id", metric=self.metric, limit=self.count)
        return [(row["id"], row[self.metric]) for row in self.embeddings.search(sql, self.count)]

    def hash(self, image):
        return self.pipeline(image)


class Robust:
    """
    txtai_imagehash.search over an index from build(), or over a plain recipe index.
    """

    def __init__(self, recipe=False, dihedral=True, **options):
        self.recipe, self.dihedral, self.options = recipe, dihedral, options
        self.embeddings, self.count, self.default, self.hasher = None, 0, None, None

    def index(self, images):
        if self.recipe:
            self.embeddings = Embeddings(config())
            self.embeddings.index(documents(list(images.items())))
        else:
            self.embeddings = build(list(images.items()), **self.options)

        self.count = len(images)
        self.hasher = variants(self.embeddings)
        self.default = self.hasher.threshold()

    def rank(self, image):
        # Keypoint matches (stage 2) rank first: their value is minus their inliers, below any hash distance
        rows = search(self.embeddings, image, limit=self.count, maxdistance=10**6, dihedral=self.dihedral)
        return [(row["id"], -row["inliers"] if row.get("inliers") else row["distance"]) for row in rows]

    def hash(self, image):
        return self.hasher.expand(self.hasher.load(image), self.dihedral)


# Method name -> factory. Thresholds are Hamming bits, except the recipe's Levenshtein hex digits.
METHODS = {
    "recipe": lambda: Recipe("average", "distance"),
    "difference": lambda: Recipe("difference", "hamming"),
    "recipe+search": lambda: Robust(recipe=True),
    "combined": lambda: Robust(trim=False, dihedral=False),
    "combined+dihedral": lambda: Robust(trim=False),
    "stage1": lambda: Robust(),
    "stage1-vectors": lambda: Robust(vectors=True),
    "stage2": lambda: Robust(keypoints=True),
}

# Stage 1 with each single hash algorithm, to calibrate their default thresholds (--methods all)
CALIBRATION = {f"stage1-{name}": (lambda name=name: Robust(algorithm=name)) for name in ["average", "perceptual", "difference", "wavelet", "color"]}


def evaluate(method, originals, queries, unrelated):
    """
    Indexes originals and distractors with a method, then runs every query.

    Args:
        method: method instance
        originals: dict of name -> image to index (photos and distractors)
        queries: list of (original name, attack name, image)
        unrelated: dict of name -> distractor query image, not in the index

    Returns:
        dict of measurements
    """

    start = time.perf_counter()
    method.index(originals)
    indexing = time.perf_counter() - start

    hits, within, times, hashing, distances, labels = {}, [], [], [], [], []
    names = list(originals)
    for original, attack, image in queries + [(None, "unrelated", image) for image in unrelated.values()]:
        start = time.perf_counter()
        ranked = method.rank(image)
        times.append(time.perf_counter() - start)

        start = time.perf_counter()
        method.hash(image)
        hashing.append(time.perf_counter() - start)

        if original:
            hit = bool(ranked) and str(ranked[0][0]) == original
            hits.setdefault(attack, []).append(hit)
            within.append(hit and (method.default is None or ranked[0][1] <= method.default))

        # Every (query, indexed image) pair: distance, and whether it is the query's original
        found = {str(uid): value for uid, value in ranked}
        for name in names:
            distances.append(found.get(name, np.inf))
            labels.append(name == original)

    distances, labels = np.array(distances, dtype=np.float64), np.array(labels)
    recall = {attack: float(np.mean(values)) for attack, values in hits.items()}
    recall["mean"] = float(np.mean([x for values in hits.values() for x in values]))
    recall["mean within default threshold"] = float(np.mean(within))

    return {
        "recall": recall,
        "indexing": indexing,
        "query": 1000 * statistics.median(times),
        "hashing": 1000 * statistics.median(hashing),
        "default": method.default,
        "pairs": pairwise(distances, labels, method.default),
    }


def pairwise(distances, labels, default):
    """
    Pairwise precision/recall: a pair is predicted a near-duplicate when its distance is <= a threshold.

    Args:
        distances: distance of every (query, indexed image) pair
        labels: True where the indexed image is the query's original
        default: default threshold or None

    Returns:
        dict with the PR curve, the default threshold's point and the calibrated threshold
    """

    positives = labels.sum()
    curve = []
    for threshold in np.unique(distances[np.isfinite(distances)]):
        predicted = distances <= threshold
        tp = int((predicted & labels).sum())
        precision = tp / predicted.sum()
        curve.append((float(threshold), float(precision), float(tp / positives)))

    # Largest threshold that keeps precision, and the recall there
    calibrated = [point for point in curve if point[1] >= PRECISION]
    calibrated = max(calibrated, key=lambda point: point[0]) if calibrated else (None, None, 0.0)

    point = None
    if default is not None:
        predicted = distances <= default
        tp = int((predicted & labels).sum())
        precision = tp / predicted.sum() if predicted.sum() else 1.0
        recall = tp / positives
        point = (precision, recall, 2 * precision * recall / (precision + recall) if tp else 0.0)

    negatives = distances[~labels & np.isfinite(distances)]
    return {
        "curve": curve,
        "default": point,
        "calibrated": calibrated,
        "unrelated": float(negatives.min()) if len(negatives) else None,
    }


def table(rows, header):
    """
    Formats rows as a markdown table.
    """

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines.extend("| " + " | ".join(str(x) for x in row) + " |" for row in rows)
    return "\n".join(lines)


def report(results, attacknames):
    """
    Prints the results as markdown tables.
    """

    methods = list(results)
    rows = [[attack] + [f"{results[method]['recall'].get(attack, float('nan')):.2f}" for method in methods] for attack in attacknames + ["mean", "mean within default threshold"]]
    print("\nRecall@1 per attack\n")
    print(table(rows, ["attack"] + methods))

    rows = []
    for method in methods:
        result, pairs = results[method], results[method]["pairs"]
        default = f"{result['default']}" if result["default"] is not None else "-"
        point = " / ".join(f"{x:.3f}" for x in pairs["default"]) if pairs["default"] else "-"
        threshold, _, recall = pairs["calibrated"]
        calibrated = f"{threshold:g} / {recall:.3f}" if threshold is not None else "-"
        rows.append([method, default, point, calibrated, f"{pairs['unrelated']:g}", f"{result['hashing']:.1f}", f"{result['query']:.1f}", f"{result['indexing']:.1f}"])

    print(f"\nPairwise (every query x every indexed image) and time (median ms per query, shared CPU)\n")
    print(
        table(
            rows,
            ["method", "default threshold", "P / R / F1 at default", f"largest threshold with P >= {PRECISION} / R", "closest unrelated", "hash ms", "query ms", "index s"],
        )
    )

    print("\nPR curve points (threshold: precision / recall)\n")
    for method in methods:
        curve = results[method]["pairs"]["curve"]
        picks = [curve[int(x)] for x in np.unique(np.linspace(0, len(curve) - 1, min(len(curve), 10)).round())]
        print(f"- {method}: " + ", ".join(f"{t:g}: {p:.3f} / {r:.3f}" for t, p, r in picks))


def main(args=None):
    """
    Runs the benchmark.
    """

    parser = argparse.ArgumentParser(description="Near-duplicate search accuracy over attacked photos")
    parser.add_argument("folder", nargs="?", help="folder of photos (default: scikit-image's photos)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated methods of: {', '.join({**METHODS, **CALIBRATION})}, or all")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated attacks")
    parser.add_argument("--distractors", type=int, default=24, help="unrelated images: half indexed, half queried")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many photos")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write all measurements to this file")
    args = parser.parse_args(args)

    originals = photos(args.folder)
    originals = dict(list(originals.items())[: args.limit]) if args.limit else originals
    names = args.attacks.split(",")
    queries = attacks(originals, names, args.seed)

    extra = distractors(args.distractors, args.seed)
    indexed = dict(list(extra.items())[: len(extra) // 2])
    unrelated = dict(list(extra.items())[len(extra) // 2 :])

    print(f"{len(originals)} photos ({args.folder or 'scikit-image'}) + {len(indexed)} distractors indexed; {len(queries)} attacked queries + {len(unrelated)} unrelated queries")

    methods = {**METHODS, **CALIBRATION}
    results = {}
    for method in list(methods) if args.methods == "all" else args.methods.split(","):
        if method not in methods:
            sys.exit(f"Unknown method {method!r}: expected one of {', '.join(methods)}")

        results[method] = evaluate(methods[method](), {**originals, **indexed}, queries, unrelated)
        print(f"{method}: mean recall@1 {results[method]['recall']['mean']:.3f}", file=sys.stderr)

    report(results, names)

    if args.json:
        with open(args.json, "w", encoding="utf-8") as output:
            json.dump(results, output, indent=2)


if __name__ == "__main__":
    main()
