"""
Formats benchmark: images hashed per second for each format photos come in (JPEG, PNG, WebP, AVIF, HEIC, JPEG XL,
camera RAW as DNG with and without the camera's preview), exact and fast (reduced-size decoding: JPEG draft mode, HEIC
thumbnails, RAW previews in draft mode or demosaiced at half size), as ratios against exact JPEG hashing in the same
run; how many bits the fast hashes differ from the exact ones, and the exact ones from the PNG's (average hash, 64
bits). Files are written from scikit-image's photos, scaled to camera size, by tests/writers.py (needs the formats
extra, imagecodecs and tifffile).

    nice -n 10 .venv/bin/python benchmarks/formats.py [--count 12] [--width 4000] [--runs 3]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

# pylint: disable=C0413
import writers

from txtai_imagehash import ImageHash, hamming, hashes
from txtai_imagehash.samples import DEMO, photo

# Formats: name -> (file extension, writer(image, path))
FORMATS = {
    "JPEG q90 (baseline)": ("jpg", lambda image, path: writers.save(image, path, "jpeg", 90)),
    "PNG": ("png", lambda image, path: writers.save(image, path, "png")),
    "WebP q80": ("webp", lambda image, path: writers.save(image, path, "webp", 80)),
    "AVIF q80": ("avif", lambda image, path: writers.save(image, path, "avif", 80)),
    "HEIC q80, 512 px thumbnail": ("heic", lambda image, path: image.save(path, quality=80, thumbnails=[512], enc_params={"preset": "ultrafast"})),
    "HEIC q80, no thumbnail": ("heic", lambda image, path: image.save(path, quality=80, thumbnails=[], enc_params={"preset": "ultrafast"})),
    "JPEG XL q80": ("jxl", lambda image, path: writers.save(image, path, "jxl", 80)),
    "DNG with preview JPEG": ("dng", lambda image, path: writers.dng(image, path)),
    "DNG raw only (demosaic)": ("dng", lambda image, path: writers.dng(image, path, preview=False)),
}


def files(folder, count, width):
    """
    Writes count photos, scaled to width, in every format.

    Returns:
        {format: [paths]}
    """

    images = [photo(name) for name in (DEMO * count)[:count]]
    images = [image.resize((width, round(width * image.height / image.width))) for image in images]

    paths = {}
    for number, (name, (extension, write)) in enumerate(FORMATS.items()):
        paths[name] = []
        for x, image in enumerate(images):
            path = os.path.join(folder, f"{number}-{x}.{extension}")
            write(image, path)
            paths[name].append(path)

    return paths


def rate(paths, fast, runs):
    """
    Images hashed per second (best of runs), and the hashes.

    Returns:
        (images per second, [hex hash])
    """

    best, values = 0.0, None
    for _ in range(runs):
        start = time.perf_counter()
        values = [value for _, value in hashes(paths, fast=fast)]
        best = max(best, len(paths) / (time.perf_counter() - start))

    if any(not isinstance(value, str) for value in values):
        raise RuntimeError(f"not every file hashed: {[value for value in values if not isinstance(value, str)][:3]}")

    return best, values


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=12, help="photos per format")
    parser.add_argument("--width", type=int, default=4000, help="width of the photos in pixels (camera size: 4000 is 12 MP at 4:3)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement, the best is reported")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        paths = files(folder, args.count, args.width)
        print(f"{args.count} photos per format, {args.width} px wide, written in {time.perf_counter() - start:.0f} s; best of {args.runs} runs, 1 process\n")

        rows, baseline = [], None
        png = [ImageHash()(path) for path in paths["PNG"]]
        for name, group in paths.items():
            exact, values = rate(group, False, args.runs)
            fast, quick = rate(group, True, args.runs)
            baseline = baseline or exact
            bits = [hamming(a, b) for a, b in zip(values, quick)]
            parity = statistics.mean(hamming(a, b) for a, b in zip(values, png))
            size = statistics.mean(os.path.getsize(path) for path in group) / 1e6
            rows.append((name, size, exact, exact / baseline, fast, fast / baseline, statistics.mean(bits), max(bits), parity))

        print("| format | MB per file | exact images/s | vs JPEG | fast images/s | vs JPEG | fast vs exact bits: mean | max | exact vs PNG bits: mean |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, size, exact, ratio, fast, fastratio, mean, top, parity in rows:
            print(f"| {name} | {size:.1f} | {exact:.1f} | {ratio:.2f}x | {fast:.1f} | {fastratio:.2f}x | {mean:.1f} | {top} | {parity:.1f} |")


if __name__ == "__main__":
    main()
