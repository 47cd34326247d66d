"""
Keypoint stage benchmark: query time and memory of the keypoint index (txtai_imagehash.keypoints) as the collection
grows, against an exact scan of the same descriptors.

Each size runs in a fresh process: synthetic images (smooth noise under random shapes, distinct per seed) are
generated, and their keypoints and combined hashes computed in worker processes; the hashes are indexed as
build(vectors=True, keypoints=True) indexes them (stage 1 rows, binary vector index) and the keypoints go to the
index's keypoint index (its faiss binary IVF is built at the end). Queries are indexed images attacked (centre crop
keeping half the area, the article's middle crop, flip, rotation by 90 degrees, JPEG quality 30). Reports build
time, query p50/p95 of Keypoints.match (keypoint extraction of the query and its mirror image, descriptor search,
votes and affine verification) and of the whole search() (stage 1 too), recall@1 of search(), and
memory: the process's peak resident size (before the baseline is built) and its resident size while querying. The
baseline is an exact faiss flat scan of the same descriptors, timed on one query (an image and its mirror image) in
the same run.

Usage:
    python benchmarks/keypoints.py [--sizes 10000,100000] [--queries 200] [--workers 2] [--bits 128,256]
    python benchmarks/keypoints.py --model 100000,1000000 [--measured 100000:34.1:1656] [--bits 128]

--bits runs each size with descriptors of each number of bits (txtai_imagehash.keypoints.features.BITS by default).

--model measures, instead of building whole indexes, what grows with the collection: the descriptor search of one
query (its 300 + 300 mirrored descriptors, NEIGHBORS each, NPROBE lists probed, on one thread as search() runs it) on
an IVF of each size's geometry (its number of lists, as Descriptors.rebuild sizes them, and their length), as the
HNSW coarse quantizer over that many centroids plus a scan of lists of that length (a smaller IVF of random codes with
lists of the same length: a scan costs the same whatever the codes), and the memory the index holds (code, id and
position of every descriptor). --measured SIZE:P50:RSS anchors the model on a measured run: the model adds the growth
of the descriptor search to that p50, and of the descriptors' bytes to that resident size.
"""

import argparse
import multiprocessing
import queue
import resource
import statistics
import time

import faiss
import numpy as np

from PIL import Image, ImageDraw
from txtai import Embeddings

from txtai_imagehash import config
from txtai_imagehash.hashing.variants import Variants
from txtai_imagehash.keypoints import Features, keypointconfig
from txtai_imagehash.keypoints.descriptors import NPROBE, listcount
from txtai_imagehash.keypoints.features import BITS, COUNT, QUERY, QUERYLEVELS
from txtai_imagehash.keypoints.graph import NEIGHBORS
from txtai_imagehash.robust import Indexer, search
from txtai_imagehash.samples import ATTACKS

# Attacks of the queries, in turn
QUERIES = ["crop50", "seedcrop", "hflip", "rot90", "jpeg30"]


def synthetic(seed, width=400, height=300):
    """
    Generates a distinct synthetic image: smooth colour noise under a dozen random ellipses, rectangles and lines.

    Args:
        seed: random seed, one image per seed
        width: image width
        height: image height

    Returns:
        PIL image
    """

    random = np.random.default_rng(seed)
    noise = (random.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
    image = Image.fromarray(noise).resize((width, height), Image.Resampling.BICUBIC)

    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = sorted(random.integers(0, width, 2)), sorted(random.integers(0, height, 2))
        color = tuple(int(c) for c in random.integers(0, 255, 3))
        shape = [draw.ellipse, draw.rectangle, draw.line][int(random.integers(0, 3))]
        shape((int(x[0]), int(y[0]), int(x[1]) + 5, int(y[1]) + 5), fill=color)

    return image


def extract(seed):
    """
    Extracts the keypoints, the combined hash and the hashes of the centre zooms of one synthetic image (worker
    process).
    """

    if not hasattr(extract, "features"):
        # extract.bits is set by run() before the workers fork
        extract.features, extract.indexer = Features(COUNT, bits=extract.bits), Indexer(Variants(), zoom=True)

    image = synthetic(seed)
    points, codes = extract.features(image)
    return seed, points.astype(np.float16), codes, extract.indexer.variants(image)[0], extract.indexer.zooms(image)


def stream(embeddings, size, workers):
    """
    Streams the documents of size synthetic images into an Embeddings index with keypoints: each image's stage 1 rows
    (combined hash, and its centre zooms as build() stores them), while its keypoints, extracted in worker processes
    with the hash, go straight to the index's keypoint index under the row's index id.
    """

    # txtai numbers rows in the order they come: an image's keypoints go under the index id of its own row
    indexid = 0
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for seed, points, codes, value, zooms in pool.imap(extract, range(size), chunksize=64):
            embeddings.graph.append(indexid, points, codes)
            yield seed, {"text": value, "image": seed}, None
            for suffix, hashed in zooms.items():
                yield f"{seed}{suffix}", {"text": hashed, "image": seed}, None
            indexid += 1 + len(zooms)


def rss():
    """
    Resident size of this process in MB.
    """

    with open("/proc/self/statm", encoding="utf-8") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def run(size, queries, workers, bits, output):
    """
    Builds an index of size synthetic images with descriptors of bits and queries it (runs in its own process).
    """

    # Stage 1 on the binary vector index, keypoints in the graph slot, as build(vectors=True, keypoints=True) makes
    options = {"algorithm": "combined", "size": 8, "trim": True, "exif": True, "keypoints": True, "zoom": True}
    embeddings = Embeddings(config(vectors={"algorithm": "combined", "exif": True}, imagehash=options, graph=keypointconfig(bits=bits)))
    extract.bits = bits

    start = time.perf_counter()
    embeddings.index(stream(embeddings, size, workers))
    indexing = time.perf_counter() - start
    keypoints = embeddings.graph

    random = np.random.default_rng(size)
    times, searches, hits = [], [], []
    for x, seed in enumerate(random.choice(size, queries, replace=False)):
        image = ATTACKS[QUERIES[x % len(QUERIES)]](synthetic(int(seed)), random)
        start = time.perf_counter()
        keypoints.match(image)
        times.append(time.perf_counter() - start)

        start = time.perf_counter()
        results = search(embeddings, image)
        searches.append(time.perf_counter() - start)
        hits.append(bool(results) and results[0]["id"] == seed)

    resident, peak = rss(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # Baseline: exact scan of every descriptor for the same query descriptors (an image and its mirror image)
    flat = faiss.IndexBinaryFlat(keypoints.descriptors.bits)
    for _, codes in keypoints.descriptors.indexed():
        flat.add(codes)

    scans = []
    for _, codes in keypoints.detector(QUERY, QUERYLEVELS)(synthetic(0), mirror=True):
        start = time.perf_counter()
        flat.search(codes, NEIGHBORS)
        scans.append(time.perf_counter() - start)

    output.put(
        {
            "size": size,
            "bits": bits,
            "descriptors": len(keypoints.descriptors),
            "lists": getattr(keypoints.descriptors.index, "nlist", 0),
            "indexing": indexing,
            "p50": 1000 * statistics.median(times),
            "search": 1000 * statistics.median(searches),
            "search95": 1000 * float(np.percentile(searches, 95)),
            "p95": 1000 * float(np.percentile(times, 95)),
            "recall": float(np.mean(hits)),
            "scan": 1000 * sum(scans),
            "resident": resident,
            "peak": peak,
        }
    )


def geometry(size):
    """
    Descriptors and inverted lists of an index of size images, as Descriptors.rebuild sizes them (listcount).

    Returns:
        (descriptors, lists, descriptors per list)
    """

    descriptors = COUNT * size
    lists = listcount(descriptors)
    return descriptors, lists, descriptors // lists


def timed(function, repeats=20):
    """
    Median seconds of a function.
    """

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)

    return statistics.median(times)


def model(sizes, measured, bits=BITS):
    """
    Measures the query cost and memory that grow with the collection (see --model) and prints the model.

    Args:
        sizes: numbers of images
        measured: (size, match p50 ms, RSS MB) of a measured run with descriptors of bits, or None
        bits: descriptor bits
    """

    faiss.omp_set_num_threads(1)
    random = np.random.default_rng(0)
    width = bits // 8
    queries = random.integers(0, 256, (2 * QUERY, width), dtype=np.uint8)

    rows = {}
    for size in sorted(set(sizes + ([measured[0]] if measured else []))):
        descriptors, nlist, length = geometry(size)

        # Coarse quantizer as rebuild() makes it: HNSW over nlist centroids
        quantizer = faiss.IndexBinaryHNSW(bits, 16)
        quantizer.add(random.integers(0, 256, (nlist, width), dtype=np.uint8))
        assign = timed(lambda quantizer=quantizer: quantizer.search(queries, NPROBE))

        # Scan: an IVF of 1,024 lists of the same length, with a flat quantizer whose own cost is taken off
        flat = faiss.IndexBinaryFlat(bits)
        flat.add(random.integers(0, 256, (1024, width), dtype=np.uint8))
        index = faiss.IndexBinaryIVF(flat, bits, 1024)
        index.own_fields = False
        codes = random.integers(0, 256, (1024 * length, width), dtype=np.uint8)
        ids, lists = np.arange(len(codes), dtype=np.int64), np.repeat(np.arange(1024, dtype=np.int64), length)
        index.add_core(len(codes), faiss.swig_ptr(codes), faiss.swig_ptr(ids), faiss.swig_ptr(lists))
        index.ntotal = len(codes)
        index.nprobe = NPROBE
        scan = timed(lambda index=index: index.search(queries, NEIGHBORS)) - timed(lambda: flat.search(queries, NPROBE))

        # Bytes the index holds per descriptor: its code and 8 of id in its list, 4 of position (2 float16)
        rows[size] = (descriptors, nlist, length, 1000 * assign, 1000 * max(scan, 0.0), descriptors * (width + 12) / 2**20)
        del index, codes, ids, lists

    print("\n| images | descriptors | IVF lists | per list | quantizer ms | list scan ms | descriptor search ms | descriptor MB | modelled match p50 ms | modelled RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    anchor = rows[measured[0]] if measured else None
    for size, (descriptors, nlist, length, assign, scan, megabytes) in rows.items():
        p50 = f"{measured[1] + assign + scan - anchor[3] - anchor[4]:.1f}" if measured else "-"
        resident = f"{measured[2] + megabytes - anchor[5]:,.0f}" if measured else "-"
        print(f"| {size:,} | {descriptors:,} | {nlist:,} | {length:,} | {assign:.2f} | {scan:.2f} | {assign + scan:.2f} | {megabytes:,.0f} | {p50} | {resident} |")


def outcome(process, output):
    """
    Waits for the result of a size's process; a process that dies without one (an error, out of memory) ends the
    benchmark instead of leaving it waiting.

    Args:
        process: started multiprocessing Process running run()
        output: its result queue

    Returns:
        result dict
    """

    while True:
        try:
            return output.get(timeout=5)
        except queue.Empty as error:
            if not process.is_alive() and output.empty():
                raise SystemExit(f"keypoints benchmark: the run process died (exit code {process.exitcode})") from error


def main(args=None):
    """
    Runs the benchmark.
    """

    parser = argparse.ArgumentParser(description="Keypoint index query time and memory by collection size")
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated numbers of indexed images")
    parser.add_argument("--queries", type=int, default=200, help="queries per size")
    parser.add_argument("--workers", type=int, default=2, help="keypoint extraction processes")
    parser.add_argument("--model", help="comma-separated sizes to model instead of building (see above)")
    parser.add_argument("--measured", help="SIZE:P50:RSS of a measured run the model is anchored on")
    parser.add_argument("--bits", default=str(BITS), help="comma-separated descriptor bits, each size runs with each")
    args = parser.parse_args(args)
    bits = [int(x) for x in args.bits.split(",")]

    if args.model:
        measured = tuple(float(x) for x in args.measured.split(":")) if args.measured else None
        model([int(x) for x in args.model.split(",")], (int(measured[0]), measured[1], measured[2]) if measured else None, bits[0])
        return

    rows = []
    for size in (int(x) for x in args.sizes.split(",")):
        for width in bits:
            output = multiprocessing.get_context("spawn").Queue()
            process = multiprocessing.get_context("spawn").Process(target=run, args=(size, args.queries, args.workers, width, output))
            process.start()
            result = outcome(process, output)
            process.join()
            rows.append(result)
            print(f"{size}: {result}", flush=True)

    print(
        "\n| images | bits | descriptors | IVF lists | index s | match p50 ms | p95 ms | search() p50 ms | p95 ms | exact scan ms | scan / match p50 | "
        "recall@1 | RSS querying MB | peak RSS MB |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['size']:,} | {r['bits']} | {r['descriptors']:,} | {r['lists']:,} | {r['indexing']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['search']:.1f} | "
            f"{r['search95']:.1f} | {r['scan']:.0f} | {r['scan'] / r['p50']:.0f}x | {r['recall']:.3f} | {r['resident']:.0f} | {r['peak']:.0f} |"
        )


if __name__ == "__main__":
    main()
