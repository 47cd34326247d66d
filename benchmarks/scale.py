"""
Scale benchmark: query latency, index build, de-duplication and hashing throughput, with ratios against the
recipe's way measured in the same run (SQL `distance` scan with and without rapidfuzz, txtai's ImageHash) and
against the numpy popcount bound.

    .venv/bin/python benchmarks/scale.py --quick     # a couple of minutes: 10k/100k queries, 100k dedup, 6 photos
    .venv/bin/python benchmarks/scale.py             # full: 10k/100k/1M queries, 100k/1M dedup, 12 photos
    nice -n 10 .venv/bin/python benchmarks/scale.py --embedded 1000000,10000000 --dedupsizes 100000,1000000,10000000   # 10M

Each measurement runs in its own process (so peak memory is per job). Hashes for the query and dedup sections
are synthetic uniform random 64-bit codes; hashing uses camera-sized JPEGs made from scikit-image photos.
Numbers depend on the machine and its load: this script prints the CPU count and load average with the table.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def peak():
    """
    Peak resident memory of this process in MB.
    """

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic(count, seed=0):
    """
    Uniform random 64-bit codes.
    """

    return np.random.default_rng(seed).integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)


def flip(code, bits, rng):
    """
    Flips random bits of a code.
    """

    for bit in rng.choice(64, bits, replace=False):
        code ^= 1 << int(bit)
    return code


def p50(function, queries):
    """
    Median latency of function over queries, in ms, and the results.
    """

    times, results = [], []
    for query in queries:
        start = time.perf_counter()
        results.append(function(query))
        times.append(time.perf_counter() - start)

    return float(np.median(times) * 1000), results


# Recipe's distance functions: textdistance as the article installs it (uses rapidfuzz when installed), and
# textdistance's pure Python implementation (what the article gets without rapidfuzz)
def rdistance(a, b):
    import textdistance  # pylint: disable=C0415

    return textdistance.levenshtein.distance(a, b)


PURE = None


def pdistance(a, b):
    global PURE  # pylint: disable=W0603
    if PURE is None:
        import textdistance  # pylint: disable=C0415

        PURE = textdistance.Levenshtein(external=False)
    return PURE.distance(a, b)


def jobquery(args):
    """
    Query latency at one index size, build times, and (for the largest size) dedup from the index.
    """

    from txtai import Embeddings  # pylint: disable=C0415

    from txtai_imagehash import config, dedup, query, todistance  # pylint: disable=C0415

    size, rng = args.size, np.random.default_rng(1)
    codes = synthetic(size)
    hexes = [f"{code:016x}" for code in codes.tolist()]
    result = {"size": size}

    def rows():
        return ((x, {"text": value}, None) for x, value in enumerate(hexes))

    # Recipe index: content only, hashes in the text column
    functions = [
        {"name": "hamming", "function": "txtai_imagehash.hamming", "deterministic": True},
        {"name": "rdistance", "function": rdistance, "deterministic": True},
        {"name": "pdistance", "function": pdistance, "deterministic": True},
    ]
    recipe = Embeddings(config(functions=functions))
    start = time.perf_counter()
    recipe.index(rows())
    result["build recipe"] = time.perf_counter() - start

    # Binary vector index, exact (BFlat)
    embeddings = Embeddings(config(vectors=True, functions=functions))
    start = time.perf_counter()
    embeddings.index(rows())
    result["build vectors"] = time.perf_counter() - start

    # Near-duplicate queries: stored hashes with 1-4 bits flipped
    queries = []
    for x in rng.choice(size, args.queries, replace=False):
        queries.append(flip(int(codes[x]), int(rng.integers(1, 5)), rng))
    exact = [int(np.bitwise_count(codes ^ np.uint64(q)).min()) for q in queries]
    qhex = [f"{q:016x}" for q in queries]

    def agreement(distances):
        return sum(a == b for a, b in zip(distances, exact)) / len(distances)

    # numpy popcount bound: XOR + popcount + argmin over all codes
    result["numpy"], _ = p50(lambda q: int(np.argmin(np.bitwise_count(codes ^ np.uint64(q)))), queries)

    # Public search API, exact binary index
    latency, found = p50(lambda q: embeddings.search(q, 1), qhex)
    result["vectors"], result["vectors top1"] = latency, agreement([todistance(r[0]["score"], embeddings) for r in found])

    # Public search API, exact multi-index hashing index (txtai_imagehash.ann.HammingIndex)
    hamming = Embeddings(config(vectors={"backend": "hamming"}))
    start = time.perf_counter()
    hamming.index(rows())
    result["build hamming"] = time.perf_counter() - start
    latency, found = p50(lambda q: hamming.search(q, 1), qhex)
    result["hamming"], result["hamming top1"] = latency, agreement([todistance(r[0]["score"], hamming) for r in found])
    hamming.close()

    # Same through SQL with a similar() clause and a filter
    sql = "select id, text, score from txtai where similar(:q) and id >= 0"
    latency, found = p50(lambda q: embeddings.search(sql, 1, parameters={"q": q}), qhex)
    result["vectors sql"] = latency

    # SQL scans: hamming, recipe distance with rapidfuzz, recipe distance in pure Python
    slow = qhex[: args.slow]
    latency, found = p50(lambda q: recipe.search(query(q, "id, text", metric="hamming", limit=1)), slow)
    result["sql hamming"], result["sql hamming top1"] = latency, agreement([r[0]["hamming"] for r in found])

    def recipesql(function):
        return lambda q: recipe.search(f"select id, text, {function}(text, '{q}') d from txtai order by d limit 1")

    latency, found = p50(recipesql("rdistance"), slow)
    result["sql rapidfuzz"] = latency
    result["sql rapidfuzz top1"] = agreement([(int(r[0]["text"], 16) ^ int(q, 16)).bit_count() for r, q in zip(found, slow)])

    if size <= args.puremax:
        latency, _ = p50(recipesql("pdistance"), slow[: max(1, args.slow // 3)])
        result["sql pure"] = latency

    # Approximate binary index (BIVF), recall of the exact top-1
    if size <= args.approxmax and size > 5000:
        approximate = Embeddings(config(vectors={"approximate": True, "count": size}))
        start = time.perf_counter()
        approximate.index(rows())
        result["build approximate"] = time.perf_counter() - start
        latency, found = p50(lambda q: approximate.search(q, 1), qhex)
        result["approximate"] = latency
        result["approximate top1"] = agreement([todistance(r[0]["score"], approximate) if r else 64 for r in found])
        approximate.close()

    recipe.close()
    result["memory index"] = peak()

    # Whole-index dedup straight from the content database
    if args.dedup:
        start = time.perf_counter()
        groups = dedup(embeddings, threshold=4)
        result["dedup index"] = time.perf_counter() - start
        result["dedup index groups"] = len(groups)
        result["memory index+dedup"] = peak()

    return result


def jobembedded(args):
    """
    An embedded index of one size through the public API only (content in SQLite, txtai_imagehash.ann.HammingIndex):
    build time, query p50 of embeddings.search(hash, 1) for near-duplicate queries, top-1 against the numpy popcount
    scan, and peak memory. For sizes where the full query job (recipe index, SQL scans, BFlat, BIVF) takes too long.
    """

    from txtai import Embeddings  # pylint: disable=C0415

    from txtai_imagehash import config, todistance  # pylint: disable=C0415

    size, rng = args.size, np.random.default_rng(1)
    codes = synthetic(size)
    hexes = [f"{code:016x}" for code in codes.tolist()]
    result = {"size": size, "memory data": peak()}

    embeddings = Embeddings(config(vectors={"backend": "hamming"}))
    start = time.perf_counter()
    embeddings.index((x, {"text": value}, None) for x, value in enumerate(hexes))
    result["build"] = time.perf_counter() - start
    result["memory build"] = peak()
    del hexes

    queries = [flip(int(codes[x]), int(rng.integers(1, 5)), rng) for x in rng.choice(size, args.queries, replace=False)]
    exact = [int(np.bitwise_count(codes ^ np.uint64(q)).min()) for q in queries[: args.slow]]
    qhex = [f"{q:016x}" for q in queries]

    result["numpy"], _ = p50(lambda q: int(np.argmin(np.bitwise_count(codes ^ np.uint64(q)))), queries[: args.slow])
    result["hamming"], found = p50(lambda q: embeddings.search(q, 1), qhex)
    distances = [todistance(r[0]["score"], embeddings) for r in found]
    result["hamming top1"] = sum(a == b for a, b in zip(distances, exact)) / len(exact)
    result["hamming within 4"] = sum(d <= 4 for d in distances) / len(distances)
    result["memory"] = peak()
    embeddings.close()
    return result


def plant(size, count, radius, seed):
    """
    Synthetic codes with count planted near-duplicate pairs at distances 0..radius.
    """

    rng = np.random.default_rng(seed)
    codes = synthetic(size, seed)
    sources = rng.choice(size, 2 * count, replace=False)
    planted = []
    for a, b in zip(sources[:count], sources[count:]):
        codes[b] = np.uint64(flip(int(codes[a]), int(rng.integers(0, radius + 1)), rng))
        planted.append((min(a, b), max(a, b)))

    return codes, planted


def jobdedup(args):
    """
    All pairs within radius among synthetic hashes with planted duplicates.
    """

    import faiss  # pylint: disable=C0415

    from txtai_imagehash import dedup  # pylint: disable=C0415
    from txtai_imagehash.duplicates.pairs import pairs  # pylint: disable=C0415

    result = {"size": args.size}
    for radius in args.radii:
        codes, planted = plant(args.size, args.size // 100, radius, radius)

        # One process, then the tables shared by one worker process per CPU (the default)
        start = time.perf_counter()
        pairs(codes[:, None], radius, workers=1)
        result[f"pairs w1 r{radius}"] = time.perf_counter() - start

        start = time.perf_counter()
        a, b, _ = pairs(codes[:, None], radius)
        result[f"pairs r{radius}"] = time.perf_counter() - start

        found = set(zip(a.tolist(), b.tolist()))
        result[f"recall r{radius}"] = sum(pair in found for pair in planted) / len(planted)

        # Full dedup() from hex hashes: encode, pairs, union-find, groups and keepers
        values = {x: f"{code:016x}" for x, code in enumerate(codes.tolist())}
        start = time.perf_counter()
        groups = dedup(values, threshold=radius)
        result[f"dedup r{radius}"] = time.perf_counter() - start
        result[f"groups r{radius}"] = len(groups)
        del values, groups

        # faiss brute-force binary range search (radius is exclusive in faiss)
        if args.size <= args.faissmax:
            index = faiss.IndexBinaryFlat(64)
            data = codes.astype(">u8").view(np.uint8).reshape(-1, 8)
            index.add(data)
            start = time.perf_counter()
            index.range_search(data, radius + 1)
            result[f"faiss r{radius}"] = time.perf_counter() - start

        # numpy popcount bound for an N^2 scan, measured on 500 rows and scaled by N / 500
        sample = codes[:500]
        start = time.perf_counter()
        for code in sample:
            np.count_nonzero(np.bitwise_count(codes ^ code) <= radius)
        result[f"numpy r{radius}"] = (time.perf_counter() - start) * args.size / len(sample)

    result["memory"] = peak()
    return result


def photos(count, folder):
    """
    Camera-sized JPEGs (4-6 megapixels) made from scikit-image photos, half of them as originals and half as
    resized and re-encoded variants.
    """

    from PIL import Image  # pylint: disable=C0415
    from skimage import data  # pylint: disable=C0415

    names = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "camera", "coins", "horse", "page", "clock", "retina"]
    paths, rng = [], np.random.default_rng(0)
    for x in range(count):
        image = Image.fromarray(getattr(data, names[x % len(names)])()).convert("RGB")

        # 4-6 megapixels, 3:2 landscape crop scaled up, with sensor-like noise
        megapixels = 4e6 + (x % 3) * 1e6
        width = int(np.sqrt(megapixels * 1.5))
        height = int(width / 1.5)
        image = image.resize((width, height), Image.BICUBIC)
        noisy = np.asarray(image, dtype=np.int16) + rng.integers(-6, 7, size=(height, width, 1), dtype=np.int16)
        image = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))

        if x >= len(names):
            # Variant: resized down and re-encoded
            image = image.resize((int(width * 0.9), int(height * 0.9)), Image.BILINEAR)

        path = os.path.join(folder, f"photo{x:02d}.jpg")
        image.save(path, quality=90 if x < len(names) else 75)
        paths.append(path)

    return paths


def jobhashing(args):
    """
    Hashing throughput on camera-sized JPEGs: txtai's ImageHash, exact and fast mode with 1 and 2 workers.
    """

    from txtai.pipeline import ImageHash  # pylint: disable=C0415

    from txtai_imagehash import hashes  # pylint: disable=C0415

    with tempfile.TemporaryDirectory() as folder:
        unique = photos(args.images, folder)

        # Each file is hashed 4 times per method so that worker start-up is amortized as in a long run
        paths = unique * 4
        result = {"images": len(unique), "hashed": len(paths)}

        from PIL import Image  # pylint: disable=C0415

        result["megapixels"] = float(np.mean([np.prod(Image.open(path).size) for path in unique]) / 1e6)

        def timed(function):
            before = os.times()
            start = time.perf_counter()
            output = function()
            elapsed = time.perf_counter() - start
            after = os.times()
            cpu = sum(after[:4]) - sum(before[:4])
            return len(paths) / elapsed, cpu / len(paths), output

        pipeline = ImageHash()
        result["txtai"], result["txtai cpu"], exact = timed(lambda: pipeline(paths))

        for workers in (1, 2):
            for fast in (False, True):
                name = f"{'fast' if fast else 'exact'} w{workers}"
                rate, cpu, output = timed(lambda: [value for _, value in hashes(paths, workers=workers, fast=fast, batch=2)])
                result[name], result[f"{name} cpu"] = rate, cpu
                distances = [(int(a, 16) ^ int(b, 16)).bit_count() for a, b in zip(output, exact)]
                result[f"{name} same"] = sum(d == 0 for d in distances) / len(distances)
                result[f"{name} maxbits"] = max(distances)

    result["memory"] = peak()
    return result


JOBS = {"query": jobquery, "embedded": jobembedded, "dedup": jobdedup, "hashing": jobhashing}


def run(job, **kwargs):
    """
    Runs a job in a child process and returns its JSON result.
    """

    command = [sys.executable, os.path.abspath(__file__), "--job", job]
    for key, value in kwargs.items():
        if isinstance(value, bool):
            command += [f"--{key}"] if value else []
        elif isinstance(value, list):
            command += [f"--{key}"] + [str(x) for x in value]
        else:
            command += [f"--{key}", str(value)]

    print(f"... {job} {kwargs}", file=sys.stderr, flush=True)
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def ratio(baseline, value):
    return f"{baseline / value:,.0f}x" if baseline / value >= 10 else f"{baseline / value:.2f}x"


def report(queries, dedups, hashing, quick):
    """
    Prints the results as tables.
    """

    print(f"\n# txtai-imagehash scale benchmark ({'quick' if quick else 'full'})")
    print(f"machine: {os.cpu_count()} cores, load average at end {os.getloadavg()[0]:.1f} (other processes share the cores)\n")

    print("## Query latency p50 (ms), nearest hash to a near-duplicate query (1-4 bits flipped)")
    print("| rows | numpy bound | faiss BFlat (search API) | HammingIndex (search API) | best vs rapidfuzz recipe | best vs pure recipe | best vs numpy | top-1 exact (BFlat, Hamming) | BFlat via SQL similar() | approx BIVF (top-1) | SQL hamming scan | recipe + rapidfuzz (top-1 by bits) | recipe pure Python |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in queries:
        pure = r.get("sql pure")
        estimate = ""
        if pure is None:
            # Linear scan: extrapolate from the largest measured size
            known = [q for q in queries if q.get("sql pure")]
            if known:
                pure, estimate = known[-1]["sql pure"] * r["size"] / known[-1]["size"], " (est.)"
        approx = f"{r['approximate']:.3f} ({r['approximate top1']:.0%})" if "approximate" in r else "-"
        best = min(r["vectors"], r["hamming"])
        print(
            f"| {r['size']:,} | {r['numpy']:.3f} | {r['vectors']:.3f} | {r['hamming']:.3f} | {ratio(r['sql rapidfuzz'], best)} | "
            f"{ratio(pure, best) + estimate if pure else '-'} | {best / r['numpy']:.2f}x | {r['vectors top1']:.0%}, {r['hamming top1']:.0%} | "
            f"{r['vectors sql']:.3f} | {approx} | {r['sql hamming']:.1f} | {r['sql rapidfuzz']:.1f} ({r['sql rapidfuzz top1']:.0%}) | "
            f"{(f'{pure:,.0f}' + estimate) if pure else '-'} |"
        )

    print("\n## Index build (s)")
    print("| rows | recipe (content only) | + exact binary vectors (BFlat) | ratio | + HammingIndex | approximate BIVF (+ content) |")
    print("|---|---|---|---|---|---|")
    for r in queries:
        approx = f"{r['build approximate']:.1f}" if "build approximate" in r else "-"
        print(
            f"| {r['size']:,} | {r['build recipe']:.1f} | {r['build vectors']:.1f} | {r['build vectors'] / r['build recipe']:.2f}x | "
            f"{r['build hamming']:.1f} | {approx} |"
        )

    deduped(queries, dedups)

    if hashing:
        hashed(hashing)

    print("\n## Peak memory (MB, resident, per job process)")
    print("| job | peak MB |")
    print("|---|---|")
    for r in queries:
        key = "memory index+dedup" if "memory index+dedup" in r else "memory index"
        label = "recipe index + vector index + dedup(index, r4)" if key == "memory index+dedup" else "recipe index + vector index"
        print(f"| {r['size']:,} rows: {label} | {r[key]:,.0f} |")
    for r in dedups:
        print(f"| {r['size']:,} rows: dedup r4 and r8 from hashes | {r['memory']:,.0f} |")
    if hashing:
        print(f"| hashing | {hashing['memory']:,.0f} |")


def deduped(queries, dedups):
    """
    Prints the dedup table (recipe estimates from the query jobs of the same sizes, if any).
    """

    print("\n## De-duplication: all pairs within radius, planted pairs (1 per 100 rows) at distances 0..radius")
    print("| rows | radius | pairs() s, 1 process | pairs() s, both cores | dedup() s (hex in, groups out) | planted recall | faiss range search s | numpy N^2 bound s | recipe N x SQL scan s (est.) | vs recipe | vs faiss | vs numpy N^2 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in dedups:
        scans = {q["size"]: q["sql rapidfuzz"] for q in queries}
        for radius in (x for x in (4, 8) if f"pairs r{x}" in r):
            recipe = scans.get(r["size"])
            recipe = recipe * r["size"] / 1000 if recipe else None
            faiss = r.get(f"faiss r{radius}")
            value = r[f"dedup r{radius}"]
            print(
                f"| {r['size']:,} | {radius} | {r[f'pairs w1 r{radius}']:.2f} | {r[f'pairs r{radius}']:.2f} | {value:.2f} | {r[f'recall r{radius}']:.1%} | "
                f"{f'{faiss:.1f}' if faiss else '-'} | {r[f'numpy r{radius}']:.0f} | {f'{recipe:,.0f}' if recipe else '-'} | "
                f"{ratio(recipe, value) if recipe else '-'} | {ratio(faiss, value) if faiss else '-'} | {ratio(r[f'numpy r{radius}'], value)} |"
            )


def embedded(results, dedups):
    """
    Prints the tables of an --embedded run.
    """

    print("\n# txtai-imagehash embedded index at scale")
    print(f"machine: {os.cpu_count()} cores, load average at end {os.getloadavg()[0]:.1f} (other processes share the cores)\n")
    print("## Embedded index (SQLite content + HammingIndex), near-duplicate queries (1-4 bits flipped)")
    print("| rows | build s (index(), public API) | search(hash, 1) p50 ms | numpy popcount scan p50 ms | vs numpy | top-1 exact | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['size']:,} | {r['build']:.1f} | {r['hamming']:.3f} | {r['numpy']:.2f} | {ratio(r['numpy'], r['hamming'])} faster | "
            f"{r['hamming top1']:.0%} | {r['memory']:,.0f} |"
        )

    deduped([], dedups)
    print("\n## Peak memory of the dedup jobs (MB, resident)")
    print("| rows | radii | peak MB |")
    print("|---|---|---|")
    for r in dedups:
        print(f"| {r['size']:,} | {', '.join(str(x) for x in (4, 8) if f'pairs r{x}' in r)} | {r['memory']:,.0f} |")


def hashed(hashing):
    """
    Prints the hashing table.
    """

    print("\n## Hashing camera-sized JPEGs (images/s; CPU s per image; agreement with txtai's exact hash)")
    print(f"{hashing['images']} JPEG files, {hashing['megapixels']:.1f} megapixels on average, each hashed 4 times per method ({hashing['hashed']} hashes)\n")
    print("| method | images/s | vs txtai ImageHash | CPU s/image | same hash as txtai | max bits off |")
    print("|---|---|---|---|---|---|")
    print(f"| txtai ImageHash | {hashing['txtai']:.1f} | 1.00x | {hashing['txtai cpu']:.3f} | 100% | 0 |")
    for name in ("exact w1", "exact w2", "fast w1", "fast w2"):
        print(
            f"| {name} | {hashing[name]:.1f} | {hashing[name] / hashing['txtai']:.2f}x | {hashing[f'{name} cpu']:.3f} | "
            f"{hashing[f'{name} same']:.0%} | {hashing[f'{name} maxbits']} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short run")
    parser.add_argument("--job", choices=list(JOBS), help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=10000, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--slow", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--puremax", type=int, default=100000, help=argparse.SUPPRESS)
    parser.add_argument("--approxmax", type=int, default=1000000, help=argparse.SUPPRESS)
    parser.add_argument("--faissmax", type=int, default=100000, help=argparse.SUPPRESS)
    parser.add_argument("--radii", type=int, nargs="+", default=[4, 8], help=argparse.SUPPRESS)
    parser.add_argument("--images", type=int, default=12, help=argparse.SUPPRESS)
    parser.add_argument("--dedup", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--sizes", help="comma-separated query job sizes (instead of --quick or the full run's)")
    parser.add_argument("--dedupsizes", help="comma-separated dedup job sizes (default: the run's)")
    parser.add_argument("--nohashing", action="store_true", help="skip the hashing job")
    parser.add_argument("--embedded", help="comma-separated sizes of the embedded index only (build, search p50, memory), then --dedupsizes")
    parser.add_argument("--r8max", type=int, default=1000000, help="largest dedup size at radius 8 in an --embedded run (default 1000000)")
    args = parser.parse_args()

    if args.job:
        print(json.dumps(JOBS[args.job](args)))
        return

    start = time.time()
    if args.embedded:
        results = [run("embedded", size=int(size), queries=args.queries, slow=args.slow) for size in args.embedded.split(",")]
        sizes = [int(x) for x in args.dedupsizes.split(",")] if args.dedupsizes else []
        dedups = [run("dedup", size=size, radii=[4, 8] if size <= args.r8max else [4], faissmax=args.faissmax) for size in sizes]
        embedded(results, dedups)
        print(f"\nTotal benchmark time: {time.time() - start:.0f} s")
        return

    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
        dedupsizes, images = [x for x in sizes if x >= 100000], 12
        # Dedup straight from the index reads every row through txtai SQL: up to 1M rows
        queries = [run("query", size=size, dedup=size == max(x for x in sizes if x <= 1000000) if min(sizes) <= 1000000 else False, slow=3 if size < 1000000 else 1) for size in sizes]
    elif args.quick:
        sizes, dedupsizes, images = [10000, 100000], [100000], 6
        queries = [run("query", size=size, puremax=10000, approxmax=100000, dedup=size == sizes[-1]) for size in sizes]
    else:
        sizes, dedupsizes, images = [10000, 100000, 1000000], [100000, 1000000], 12
        queries = [run("query", size=size, dedup=size == sizes[-1], approxmax=1000000, slow=3 if size < 1000000 else 1) for size in sizes]

    dedupsizes = [int(x) for x in args.dedupsizes.split(",")] if args.dedupsizes else dedupsizes
    dedups = [run("dedup", size=size) for size in dedupsizes]
    hashing = None if args.nohashing else run("hashing", images=images)

    report(queries, dedups, hashing, args.quick)
    print(f"\nTotal benchmark time: {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
