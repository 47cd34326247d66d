"""
De-duplication at scale: dedup() over robust indexes of 10k and 100k synthetic images with keypoints (built as the
command line builds them: hashes, flips, centre cuts and keypoints extracted in worker processes), with planted
near-duplicates (crops keeping half the area, phone-style vertical slices, JPEG re-encodes, halved sizes). Times the
whole dedup() (hash pairs, batched keypoint search, affine fits in 2 worker processes, grouping) against the
hash-only dedup() of the same hashes measured in the same run, and reports peak memory and the planted pairs found.

    .venv/bin/python benchmarks/dedupscale.py                    # 10k and 100k images (about an hour on 2 cores)
    .venv/bin/python benchmarks/dedupscale.py --sizes 2000       # a quick run
    .venv/bin/python benchmarks/dedupscale.py --sizes 100000 --index /var/tmp/dedupscale   # keep the indexes

Each size runs in its own process, so peak memory is per size. With --index DIR, each size's index is saved under
DIR and reused by later runs (index s is then the time to load it). Peak RSS is the dedup phase's own (the process's
peak is reset after indexing, /proc/self/clear_refs), the largest of the main process and its worker processes.
"""

import argparse
import itertools
import multiprocessing
import os
import resource
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# pylint: disable=C0413
from keypoints import synthetic  # noqa: E402

from txtai import Embeddings  # noqa: E402

from txtai_imagehash import build, dedup  # noqa: E402
from txtai_imagehash.samples import aspect, jpeg, resize  # noqa: E402

# Planted copies of every PLANT-th image
PLANT = 10
COPIES = {
    "crop": lambda image: image.crop((image.width // 6, image.height // 6, image.width * 5 // 6, image.height * 5 // 6)),
    "phone": lambda image: aspect(image, (9, 16)),
    "jpeg": lambda image: jpeg(image, 30),
    "half": lambda image: resize(image, 0.5),
}


def images(size):
    """
    Synthetic images with planted copies.

    Returns:
        generator of (id, image)
    """

    kinds = list(COPIES)
    for seed in range(size):
        image = synthetic(seed)
        yield f"{seed}", image
        if seed % PLANT == 0:
            for kind in (kinds[(seed // PLANT) % len(kinds)], kinds[(seed // PLANT + 1) % len(kinds)]):
                yield f"{seed}-{kind}", COPIES[kind](image)


def peak():
    """
    Peak resident memory of this process since the last reset, in MB.

    Returns:
        MB
    """

    with open("/proc/self/status", encoding="utf-8") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024


def run(size, workers, index, output):
    """
    Builds (or loads) an index of size images and de-duplicates it (in its own process).
    """

    start = time.perf_counter()
    path = os.path.join(index, str(size)) if index else None
    if path and os.path.exists(path):
        embeddings = Embeddings()
        embeddings.load(path)
    else:
        embeddings = build(images(size), keypoints=True, workers=workers)
        if path:
            embeddings.save(path)
    indexing = time.perf_counter() - start
    building = peak()

    # Peak memory of the dedup phase alone: reset the high-water mark (Linux)
    with open("/proc/self/clear_refs", "w", encoding="utf-8") as refs:
        refs.write("5")

    start = time.perf_counter()
    groups = dedup(embeddings, workers=workers)
    seconds = time.perf_counter() - start
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    deduping = max(peak(), children)

    # Baseline in the same run: hash-only dedup() of the same raw hashes (no keypoints, no flips or cuts)
    hashes = {row["id"]: row["text"] for row in embeddings.search("select id, text, image from txtai", embeddings.count()) if row["image"] == row["id"]}
    start = time.perf_counter()
    dedup(hashes)
    baseline = time.perf_counter() - start

    # Planted pairs found: an original and its copies in one group; pairs of different originals in one group
    found = {(a, b) for group in groups for a, b in itertools.combinations(sorted(image["id"] for image in group["images"]), 2)}
    true = {(a, b) for a, b in found | {(f"{seed}", f"{seed}-{kind}") for seed in range(0, size, PLANT) for kind in COPIES} if a.split("-")[0] == b.split("-")[0]}
    planted = {(f"{seed}", f"{seed}-{kind}") for seed in range(0, size, PLANT) for kind in COPIES if f"{seed}-{kind}" in hashes}
    false = [pair for pair in found if pair[0].split("-")[0] != pair[1].split("-")[0]]

    output.put(
        {
            "size": size,
            "rows": len(hashes),
            "indexing": indexing,
            "dedup": seconds,
            "baseline": baseline,
            "building": building,
            "peak": deduping,
            "recall": len(planted & found) / len(planted) if planted else 1.0,
            "false": len(false),
            "true": len(true),
        }
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of synthetic images")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--index", help="folder where indexes are saved and reused")
    args = parser.parse_args()

    results = []
    for size in (int(x) for x in args.sizes.split(",")):
        queue = multiprocessing.get_context("spawn").Queue()
        process = multiprocessing.get_context("spawn").Process(target=run, args=(size, args.workers, args.index, queue))
        process.start()
        results.append(queue.get())
        process.join()
        print(results[-1], flush=True)

    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}\n")
    print("| images | rows | index s | dedup() s | hash-only dedup() s | dedup / hash-only | planted pairs found | false pairs | peak RSS indexing MB | peak RSS dedup MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['size']:,} | {r['rows']:,} | {r['indexing']:.0f} | {r['dedup']:.1f} | {r['baseline']:.1f} | {r['dedup'] / max(r['baseline'], 1e-9):.0f}x | "
            f"{r['recall']:.3f} | {r['false']} | {r['building']:,.0f} | {r['peak']:,.0f} |"
        )


if __name__ == "__main__":
    main()
