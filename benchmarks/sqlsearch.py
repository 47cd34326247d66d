"""
SQL path of search(): one closest() call per row against the baseline of one hamming() call per query hash (what an
index that does not register closest, e.g. one saved before it, runs), measured in the same run on the same rows.

Each size is an index of random 192-bit combined hashes (about 4 rows per image with the centre zooms: 40,000 rows is
10,000 images) without vectors, as build() makes it; each query is the 16 hashes search() makes of one image (raw
and trimmed, 8 flips and rotations, 15 with the flip penalty), one of them an indexed row.

Usage:
    python benchmarks/sqlsearch.py [--sizes 10000,40000] [--queries 10]
"""

import argparse
import statistics
import time

import numpy as np

from txtai import Embeddings

from txtai_imagehash import config
from txtai_imagehash.robust import ssearch

# Query hashes of one search() and the flip penalty of the combined hash
HASHES, PENALTY, THRESHOLD = 16, 19, 36


def p50(embeddings, queries):
    """
    Median milliseconds of ssearch() over queries, and its results.
    """

    times, results = [], []
    for hashes in queries:
        start = time.perf_counter()
        results.append(ssearch(embeddings, hashes, 50, THRESHOLD))
        times.append(time.perf_counter() - start)

    return 1000 * statistics.median(times), results


def run(size, count):
    """
    Times both SQL paths on one index of size random rows.
    """

    random = np.random.default_rng(size)
    codes = [bytes(random.integers(0, 256, 24, dtype=np.uint8)).hex() for _ in range(size)]

    indexes = {}
    for name, functions in (("closest", config()["functions"]), ("hamming", [x for x in config()["functions"] if x["name"] != "closest"])):
        indexes[name] = Embeddings(config(functions=functions))
        indexes[name].index((str(x), {"text": code, "image": x}, None) for x, code in enumerate(codes))

    queries = []
    for x in random.choice(size, count, replace=False):
        hashes = [codes[int(x)]] + [bytes(random.integers(0, 256, 24, dtype=np.uint8)).hex() for _ in range(HASHES - 1)]
        queries.append({value: PENALTY if y else 0 for y, value in enumerate(hashes)})

    baseline, expected = p50(indexes["hamming"], queries)
    latency, found = p50(indexes["closest"], queries)
    return {"size": size, "hamming": baseline, "closest": latency, "same": found == expected}


def main():
    """
    Runs the sizes and prints a markdown table.
    """

    parser = argparse.ArgumentParser(description="SQL path of search(): closest() against hamming() per query hash")
    parser.add_argument("--sizes", default="10000,40000", help="comma-separated numbers of rows")
    parser.add_argument("--queries", type=int, default=10, help="queries per size")
    args = parser.parse_args()

    rows = [run(int(size), args.queries) for size in args.sizes.split(",")]

    print("| rows | hamming() per query hash, p50 ms (baseline) | closest(), p50 ms | speed-up | same results |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row['size']:,} | {row['hamming']:.0f} | {row['closest']:.0f} | {row['hamming'] / row['closest']:.1f}x | {row['same']} |")


if __name__ == "__main__":
    main()
