"""
Accuracy benchmark: how often near-duplicate search finds the original of an attacked photo, and how often it
matches something when the original is not indexed.

For each photo set (scikit-image's photos, or every image in a folder and its subfolders; photos that are copies
of each other, such as one wallpaper in three sizes, are kept once), every method indexes the photos plus
unrelated distractor images, and is queried with each photo attacked every way in txtai_imagehash.samples (resize,
JPEG, crops, flip, rotations, brightness, contrast, grayscale, blur, border, caption, squash):

- present queries: the original is indexed. recall@1 is the share whose top result at the method's defaults (what
  search() returns as a user calls it) is the original; "ranked" is the same without a threshold (every image
  ranked), what a threshold costs is the difference.
- absent queries: the same attacked copies searched in an index without their original (the photos are split in
  two folds, each searched in an index of the other fold's photos and the distractors), plus unrelated distractor
  queries. A false match is an absent query for which search() at its defaults returns anything.
- the curve: recall@1 and false matches as a threshold on the top result's value moves (hash distance in bits, or
  minus the inlier keypoints of a keypoint match, which rank before any hash distance).
- the misses: which photo each method does not find first under which attack (and what it found instead), and the
  false matches, listed after the tables, so that a change can be judged on the pictures it wins or loses.

The recipe (average hash, Levenshtein distance on hex strings, txtai's near-duplicate example) is the baseline; it
has no threshold, so it always returns a match.

Usage:
    python benchmarks/accuracy.py [SET ...] [--methods recipe,stage1,stage2] [--distractors 24] [--json results.json]

    SET is "skimage" (scikit-image's photos, the default) or a folder of photos, e.g. both sets of the tables in
    benchmarks/README.md (mate-backgrounds' four recolourings of one aurora are one picture):
    python benchmarks/accuracy.py skimage /work/data/mate/usr/share/backgrounds/mate --family '*Ubuntu-Mate-*'
"""

import argparse
import fnmatch
import json
import statistics
import sys
import time

import numpy as np

from txtai import Embeddings

from txtai_imagehash import ImageHash, config, documents, query
from txtai_imagehash.hashing.algorithms import bits
from txtai_imagehash.robust import build, search
from txtai_imagehash.samples import ATTACKS, attack, distractors, photos

# Hamming distance, of the 192 bits of the combined hash, under which two photos of a set are one picture
COPIES = 12

# Grey levels between the 1st and 99th percentile under which a photo is blank (a transparent wallpaper composited
# onto white shows nothing): blank photos are left out
BLANK = 8

# False-match rate the calibrated threshold must keep
FALSE = 0.005


class Recipe:
    """
    txtai's near-duplicate image recipe: hash with ImageHash, rank rows in SQL by a distance function. It has no
    threshold: its defaults return the nearest image.
    """

    def __init__(self, algorithm="average", metric="distance"):
        self.pipeline = ImageHash(algorithm)
        self.metric = metric

    def index(self, images):
        embeddings = Embeddings(config())
        embeddings.index(documents(list(images.items()), self.pipeline))
        return embeddings

    def rank(self, embeddings, image, limit):
        sql = query(self.pipeline(image), select="id", metric=self.metric, limit=limit)
        return [(row["id"], row[self.metric]) for row in embeddings.search(sql, limit)]

    def search(self, embeddings, image):
        return self.rank(embeddings, image, 1)


class Robust:
    """
    txtai_imagehash.search over an index from build(), or over a plain recipe index. A keypoint match's value is
    minus its inlier keypoints, so it ranks before any hash distance.
    """

    def __init__(self, recipe=False, dihedral=True, **options):
        self.recipe, self.dihedral, self.options = recipe, dihedral, options

    def index(self, images):
        if self.recipe:
            embeddings = Embeddings(config())
            embeddings.index(documents(list(images.items())))
            return embeddings

        return build(list(images.items()), **self.options)

    def rank(self, embeddings, image, limit):
        return self.values(search(embeddings, image, limit=limit, maxdistance=10**6, dihedral=self.dihedral))

    def search(self, embeddings, image):
        return self.values(search(embeddings, image, dihedral=self.dihedral))

    def values(self, rows):
        return [(row["id"], -row["inliers"] if row.get("inliers") else row["distance"]) for row in rows]


class Keypoints(Robust):
    """
    The keypoint stage alone (Keypoints.match on an index from build(keypoints=True)), without the hash fallback.
    """

    def __init__(self, **options):
        super().__init__(keypoints=True, **options)

    def index(self, images):
        embeddings = super().index(images)
        embeddings.names = {row["indexid"]: row["id"] for row in embeddings.search("select indexid, id from txtai", len(images) * 2)}
        return embeddings

    def rank(self, embeddings, image, limit):
        return [(embeddings.names[indexid], -inliers) for indexid, inliers in embeddings.graph.match(image)][:limit]

    def search(self, embeddings, image):
        return self.rank(embeddings, image, 10)


# Method name -> factory
METHODS = {
    "recipe": lambda: Recipe("average", "distance"),
    "difference": lambda: Recipe("difference", "hamming"),
    "recipe+search": lambda: Robust(recipe=True),
    "combined": lambda: Robust(trim=False, dihedral=False),
    "combined+dihedral": lambda: Robust(trim=False),
    "stage1": lambda: Robust(),
    "stage1-vectors": lambda: Robust(vectors=True),
    "keypoints": Keypoints,
    "stage2": lambda: Robust(keypoints=True),
}

# Stage 1 with each single hash algorithm, to calibrate their default thresholds (--methods all)
CALIBRATION = {f"stage1-{name}": (lambda name=name: Robust(algorithm=name)) for name in ["average", "perceptual", "difference", "wavelet", "color"]}


def unique(images, families=()):
    """
    Keeps one photo of each picture, and only photos that show something (see BLANK): a photo whose combined hash is within COPIES bits of an earlier one's (the same
    wallpaper in another size), or whose name matches the same family pattern as an earlier one's (the same
    picture recoloured, which a hash does not see), is dropped, so that its copies are not counted as wrong
    matches.

    Args:
        images: dict of name -> image
        families: glob patterns of names, each naming one picture's copies

    Returns:
        (kept images, list of (dropped name, kept name or "blank"))
    """

    kept, hashes, dropped = {}, {}, []
    for name, image in images.items():
        low, high = np.percentile(np.asarray(image.convert("L").resize((64, 64))), [1, 99])
        if high - low < BLANK:
            dropped.append((name, "blank"))
            continue

        value = bits(image, "combined")
        copy = next((other for other, known in hashes.items() if (known != value).sum() <= COPIES), None)
        copy = copy or next((other for other in kept for family in families if fnmatch.fnmatch(name, family) and fnmatch.fnmatch(other, family)), None)
        if copy:
            dropped.append((name, copy))
        else:
            kept[name], hashes[name] = image, value

    return kept, dropped


def evaluate(methods, originals, attacknames, indexed, unrelated, seed):
    """
    Indexes a photo set with every method (all photos, and each fold without its photos), then runs every query.

    Args:
        methods: dict of name -> method instance
        originals: dict of name -> photo
        attacknames: attack names
        indexed: dict of name -> distractor image, indexed
        unrelated: dict of name -> distractor image, queried, not indexed
        seed: base random seed of the attacks

    Returns:
        dict of method name -> measurements
    """

    names = list(originals)
    folds = [{name: originals[name] for name in names[fold::2]} for fold in range(2)]

    indexes, results = {}, {}
    for method, instance in methods.items():
        start = time.perf_counter()
        full = instance.index({**originals, **indexed})
        indexing = time.perf_counter() - start

        # Fold f's photos are searched in an index of the other fold's photos and the distractors
        absent = [instance.index({**folds[1 - fold], **indexed}) for fold in range(2)]
        indexes[method] = (full, absent)
        results[method] = {"indexing": indexing, "present": [], "absent": [], "times": []}

    total = len(originals) + len(indexed)
    queries = [(x, name, kind) for x, name in enumerate(names) for kind in attacknames]
    for number, (x, name, kind) in enumerate(queries):
        image = attack(originals[name], kind, seed + x)
        for method, instance in methods.items():
            full, absent = indexes[method]
            result = results[method]

            start = time.perf_counter()
            found = instance.search(full, image)
            result["times"].append(time.perf_counter() - start)
            ranked = instance.rank(full, image, total)
            result["present"].append({"photo": name, "attack": kind, "found": top(found), "ranked": top(ranked)})

            other = absent[x % 2]
            result["absent"].append({"photo": name, "attack": kind, "found": top(instance.search(other, image)), "ranked": top(instance.rank(other, image, total))})

        if number % 50 == 49:
            print(f"  {number + 1}/{len(queries)} queries", file=sys.stderr, flush=True)

    for name, image in unrelated.items():
        for method, instance in methods.items():
            full = indexes[method][0]
            results[method]["absent"].append({"photo": name, "attack": "unrelated", "found": top(instance.search(full, image)), "ranked": top(instance.rank(full, image, total))})

    return {method: summarize(result, attacknames) for method, result in results.items()}


def top(rows):
    """
    The top result of a ranking as (id, value), or None.
    """

    return (str(rows[0][0]), float(rows[0][1])) if rows else None


def summarize(result, attacknames):
    """
    Recall@1 per attack, false matches and the curve of one method on one set.

    Args:
        result: dict with present and absent query outcomes, query times and indexing time
        attacknames: attack names

    Returns:
        dict of measurements
    """

    present, absent = result["present"], result["absent"]
    hit = lambda row, key: row[key] is not None and row[key][0] == row["photo"]

    recall = {kind: float(np.mean([hit(row, "found") for row in present if row["attack"] == kind])) for kind in attacknames}
    recall["mean"] = float(np.mean([hit(row, "found") for row in present]))
    ranked = {kind: float(np.mean([hit(row, "ranked") for row in present if row["attack"] == kind])) for kind in attacknames}
    ranked["mean"] = float(np.mean([hit(row, "ranked") for row in present]))

    photos = [row for row in absent if row["attack"] != "unrelated"]
    false = {
        "absent photos": float(np.mean([row["found"] is not None for row in photos])),
        "unrelated": float(np.mean([row["found"] is not None for row in absent if row["attack"] == "unrelated"])),
        "all": float(np.mean([row["found"] is not None for row in absent])),
        "wrong top-1 of present queries": float(np.mean([row["found"] is not None and not hit(row, "found") for row in present])),
    }

    return {
        "recall": recall,
        "ranked": ranked,
        "false": false,
        "falsematches": [row for row in absent if row["found"] is not None],
        "misses": [row for row in present if not hit(row, "found")],
        "curve": curve(present, absent),
        "query": 1000 * statistics.median(result["times"]),
        "indexing": result["indexing"],
    }


def curve(present, absent):
    """
    Recall@1 and false matches as a threshold on the top result's value moves: a query matches when its top
    ranked result's value is at most the threshold. A false match is an absent query that matches, or a present
    query whose top result is another image.

    Args:
        present: present query outcomes
        absent: absent query outcomes

    Returns:
        list of (threshold, recall@1, false-match rate of absent queries, wrong top-1 rate of present queries)
    """

    values = np.array([row["ranked"][1] if row["ranked"] else np.inf for row in present])
    hits = np.array([row["ranked"] is not None and row["ranked"][0] == row["photo"] for row in present])
    others = np.array([row["ranked"][1] if row["ranked"] else np.inf for row in absent])

    points = []
    for threshold in np.unique(np.concatenate([values, others])):
        if np.isfinite(threshold):
            within = values <= threshold
            points.append((float(threshold), float((within & hits).mean()), float((others <= threshold).mean()), float((within & ~hits).mean())))

    return points


def table(rows, header):
    """
    Formats rows as a markdown table.
    """

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines.extend("| " + " | ".join(str(x) for x in row) + " |" for row in rows)
    return "\n".join(lines)


def report(title, results, attacknames):
    """
    Prints the results of one set as markdown tables.
    """

    methods = list(results)
    print(f"\n### {title}\n")
    print("Recall@1 at the defaults per attack (present queries)\n")
    rows = [[kind] + [f"{results[method]['recall'][kind]:.2f}" for method in methods] for kind in attacknames]
    rows.append(["**mean**"] + [f"**{results[method]['recall']['mean']:.3f}**" for method in methods])
    rows.append(["mean, ranked without a threshold"] + [f"{results[method]['ranked']['mean']:.3f}" for method in methods])
    rows.append(["false matches: absent photos"] + [f"{results[method]['false']['absent photos']:.3f}" for method in methods])
    rows.append(["false matches: unrelated distractors"] + [f"{results[method]['false']['unrelated']:.3f}" for method in methods])
    rows.append(["wrong top-1, present queries"] + [f"{results[method]['false']['wrong top-1 of present queries']:.3f}" for method in methods])
    rows.append(["search() median ms"] + [f"{results[method]['query']:.1f}" for method in methods])
    print(table(rows, ["attack"] + methods))

    print("\nCurve: threshold on the top result's value -> recall@1 / false matches of absent queries (first points above each false-match rate)\n")
    for method in methods:
        points = results[method]["curve"]
        picks, rates = [], [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 1.0]
        for rate in rates:
            within = [point for point in points if point[2] <= rate]
            if within and within[-1] not in picks:
                picks.append(within[-1])

        print(f"- {method}: " + ", ".join(f"{t:g}: {r:.3f} / {f:.3f}" for t, r, f, _ in picks))

    print("\nFalse matches at the defaults (absent query -> matched image, value)\n")
    for method in methods:
        matches = results[method]["falsematches"]
        shown = ", ".join(f"{row['photo']} {row['attack']} -> {row['found'][0]} {row['found'][1]:g}" for row in matches[:12])
        print(f"- {method}: {len(matches)}" + (f": {shown}" + (" ..." if len(matches) > 12 else "") if matches else ""))

    print("\nMisses at the defaults (present query not found first: attack -> photos, with what came first if anything)\n")
    for method in methods:
        misses = results[method]["misses"]
        print(f"- {method}: {len(misses)}")
        for kind in attacknames:
            rows = [row for row in misses if row["attack"] == kind]
            if rows:
                print(f"  - {kind}: " + ", ".join(row["photo"] + (f" (-> {row['found'][0]} {row['found'][1]:g})" if row["found"] else "") for row in rows))


def main(args=None):
    """
    Runs the benchmark.
    """

    parser = argparse.ArgumentParser(description="Near-duplicate search accuracy over attacked photos")
    parser.add_argument("sets", nargs="*", default=["skimage"], help='photo sets: "skimage" (scikit-image\'s photos) or folders')
    parser.add_argument("--methods", default="recipe,stage1,stage2", help=f"comma-separated methods of: {', '.join({**METHODS, **CALIBRATION})}, or all")
    parser.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated attacks")
    parser.add_argument("--distractors", type=int, default=24, help="unrelated images: half indexed, half queried")
    parser.add_argument("--family", action="append", default=[], help="glob pattern of photo names that are one picture (kept once), repeatable")
    parser.add_argument("--limit", type=int, default=None, help="use at most this many photos per set")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write all measurements to this file")
    args = parser.parse_args(args)

    available = {**METHODS, **CALIBRATION}
    names = list(available) if args.methods == "all" else args.methods.split(",")
    for method in names:
        if method not in available:
            sys.exit(f"Unknown method {method!r}: expected one of {', '.join(available)}")

    attacknames = args.attacks.split(",")
    extra = distractors(args.distractors, args.seed)
    indexed = dict(list(extra.items())[: len(extra) // 2])
    unrelated = dict(list(extra.items())[len(extra) // 2 :])

    results = {}
    for source in args.sets:
        originals, dropped = unique(photos(None if source == "skimage" else source), args.family)
        originals = dict(list(originals.items())[: args.limit]) if args.limit else originals
        print(f"{source}: {len(originals)} photos ({len(dropped)} left out: {dropped}) + {len(indexed)} distractors indexed", file=sys.stderr)

        results[source] = evaluate({method: available[method]() for method in names}, originals, attacknames, indexed, unrelated, args.seed)
        results[source]["photos"] = len(originals)
        for method in names:
            print(f"{source} {method}: recall@1 {results[source][method]['recall']['mean']:.3f}, false matches {results[source][method]['false']['all']:.3f}", file=sys.stderr)

    for source, result in results.items():
        count = result.pop("photos")
        report(f"{source}: {count} photos x {len(attacknames)} attacks, {len(indexed)} + {len(unrelated)} distractors", result, attacknames)

    if args.json:
        with open(args.json, "w", encoding="utf-8") as output:
            json.dump(results, output, indent=2)


if __name__ == "__main__":
    main()
