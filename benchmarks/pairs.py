"""
Pairs benchmark: why all pairs within 8 bits grow faster than the hashes, measured. For each size and block count
(the one txtai_imagehash.ann.pigeonhole() picks, and its neighbors), the tables, key bits, candidate pairs verified
and the time of txtai_imagehash.duplicates.pairs.pairs() in one process and on every core.

    .venv/bin/python benchmarks/pairs.py --sizes 100000,1000000 --radius 8
    nice -n 10 .venv/bin/python benchmarks/pairs.py --sizes 1000000,3000000,10000000 --radius 8 --neighbors 0

Hashes are synthetic uniform random 64-bit codes (1 in 100 with a planted copy within the radius).
"""

import argparse
import os
import sys
import time

from itertools import combinations
from math import comb
from unittest import mock

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# pylint: disable=C0413
from txtai_imagehash.ann import layout, pigeonhole  # noqa: E402
from txtai_imagehash.duplicates import pairs as module  # noqa: E402


def candidates(codes, blocks, radius):
    """
    Counts the candidate pairs of all tables: pairs of rows with equal keys, summed over tables (measured on the codes).
    """

    total = 0
    split = layout(64, blocks)
    for table in combinations(range(blocks), blocks - radius):
        key, width = np.zeros(len(codes), dtype=np.uint64), 0
        for block in table:
            _, shift, size = split[block]
            size = min(size, module.KEYBITS - width)
            if size <= 0:
                break
            key = (key << np.uint64(size)) | ((codes >> np.uint64(shift)) & np.uint64((1 << size) - 1))
            width += size
        _, counts = np.unique(key, return_counts=True)
        total += int((counts * (counts - 1) // 2).sum())

    return total


def main():
    """
    Runs the benchmark and prints the table.
    """

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated sizes")
    parser.add_argument("--radius", type=int, default=8, help="pair radius (default 8)")
    parser.add_argument("--neighbors", type=int, default=1, help="block counts around the chosen one (default 1)")
    parser.add_argument("--count", action="store_true", help="also count candidate pairs (slow: one unique() per table)")
    args = parser.parse_args()

    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        rng = np.random.default_rng(size)
        codes = rng.integers(0, 2**64, size=size, dtype=np.uint64)
        codes[size // 2 : size // 2 + size // 100] = codes[: size // 100] ^ np.uint64(0b1011)

        chosen = pigeonhole(size, args.radius, 64, module.KEYBITS)
        for blocks in range(chosen - args.neighbors, chosen + args.neighbors + 1):
            tables = comb(blocks, blocks - args.radius)
            keybits = min(64 * (blocks - args.radius) / blocks, module.KEYBITS)
            verified = candidates(codes, blocks, args.radius) if args.count else None

            times = []
            with mock.patch.object(module, "pigeonhole", lambda *_, value=blocks: value):
                for workers in (1, None):
                    start = time.perf_counter()
                    found = module.pairs(codes[:, None], args.radius, workers=workers)
                    times.append(time.perf_counter() - start)

            rows.append((size, blocks, blocks == chosen, tables, keybits, verified, len(found[0]), *times))

    print(f"\nCPUs: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}, radius {args.radius}")
    print("| rows | blocks | tables | key bits | candidate pairs | pairs found | 1 process s | every core s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, blocks, chosen, tables, keybits, verified, found, one, every in rows:
        count = f"{verified:,}" if verified is not None else ""
        print(f"| {size:,} | {blocks}{' (chosen)' if chosen else ''} | {tables:,} | {keybits:.1f} | {count} | {found:,} | {one:.1f} | {every:.1f} |")


if __name__ == "__main__":
    main()
