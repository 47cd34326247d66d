"""
De-duplication benchmark on a real, messy folder: real pictures each written in the versions that wallpaper packages
and photo exports ship (sizes, 16:9 / 16:10 / 4:3 / 5:4 aspect crops, a 9:16 phone crop, a small screenshot, PNG and
JPEG, symbolic and hard links; txtai_imagehash.samples.family), de-duplicated by the command line at its defaults
and scored as pairs "same picture, same group" over distinct files. Peers run on the same folder in the same run when
they are installed in a separate environment (never a dependency of this package): czkawka's engine (PyPI czkawka).

    .venv/bin/python benchmarks/dedup.py                                  # scikit-image's photos
    .venv/bin/python benchmarks/dedup.py /path/to/pictures               # every picture of a folder tree
    .venv/bin/python benchmarks/dedup.py /path/to/pictures --peers /work/peers/bin/python
    .venv/bin/python benchmarks/dedup.py DIR --families benchmarks/mate-families.json   # recoloured versions left out
    .venv/bin/python benchmarks/dedup.py --camera 2000 --peers /work/peers/bin/python   # speed: 2,000 camera JPEGs

Pictures of a folder tree are named by file name without the size suffix (Elephants_3840x2160.jpg and Elephants.jpg
are one picture, written once, from the largest).
"""

import argparse
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from PIL import Image, ImageOps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

os.environ.setdefault("HF_HUB_OFFLINE", "1")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# pylint: disable=C0413
from keypoints import synthetic  # noqa: E402

from txtai_imagehash.samples import family, photos  # noqa: E402

# czkawka in its own environment: groups of paths as JSON on standard output
CZKAWKA = """
import json, sys
from czkawka import ImageSimilarity
finder = ImageSimilarity()
finder.set_directories([sys.argv[1]])
finder.set_similarity(int(sys.argv[2]))
print(json.dumps([[str(path) for path in group] for group in finder.find_similar()]))
"""


def pictures(folder=None, limit=None):
    """
    Loads the pictures to build families from.

    Args:
        folder: folder tree of pictures, or None for scikit-image's photos
        limit: at most this many pictures

    Returns:
        {name: RGB image}
    """

    if not folder:
        images = photos()
    else:
        images, sizes = {}, {}
        for directory, _, names in os.walk(folder):
            for name in sorted(names):
                path = os.path.join(directory, name)
                key = re.sub(r"_\d+x\d+$", "", os.path.splitext(name)[0])
                try:
                    with Image.open(path) as image:
                        pixels = image.width * image.height
                        if pixels > sizes.get(key, 0):
                            sizes[key] = pixels
                            images[key] = ImageOps.exif_transpose(image).convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
                except OSError:
                    continue

        # Transparent pictures as their desktop shows them: on a black background
        for key, image in images.items():
            if image.mode == "RGBA":
                background = Image.new("RGBA", image.size, (0, 0, 0, 255))
                images[key] = Image.alpha_composite(background, image).convert("RGB")

    names = sorted(images)[:limit]
    return {name: images[name] for name in names}


def build(images, folder):
    """
    Writes every picture's family into a folder.

    Returns:
        {path: picture name} for every file written (links included)
    """

    truth = {}
    for name, image in images.items():
        safe = re.sub(r"[^A-Za-z0-9]+", "-", name)
        for path in family(image, os.path.join(folder, safe), safe):
            truth[path] = name

    return truth


def camera(count, folder, seed=0):
    """
    Writes camera-sized JPEG files (4000 x 3000, quality 90) in worker processes: each a different synthetic scene
    (shapes over smooth noise, benchmarks/keypoints.py) with sensor-like noise; every tenth file also as a phone export
    (half size, quality 75), the near-duplicates a real folder holds.

    Args:
        count: number of pictures
        folder: folder to write into
        seed: random seed

    Returns:
        {path: picture name}
    """

    # pylint: disable=C0415
    import multiprocessing

    os.makedirs(os.path.join(folder, "exports"), exist_ok=True)
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool:
        truth = {}
        for paths in pool.imap_unordered(scene, [(folder, seed, x) for x in range(count)], chunksize=4):
            truth.update(paths)

    return truth


def scene(task):
    """
    Writes one camera-sized scene, and its phone export for every tenth scene.

    Args:
        task: (folder, seed, number)

    Returns:
        {path: picture name}
    """

    # pylint: disable=C0415
    import numpy as np

    folder, seed, x = task
    random = np.random.default_rng(seed * 100000 + x)

    # Sensor noise: one slice of a noise field shared by all scenes of this process, at a random offset
    if NOISE.get(seed) is None:
        NOISE[seed] = np.random.default_rng(seed).normal(0, 6, (3256, 4256, 1)).astype(np.int16)
    dy, dx = random.integers(0, 256, 2)
    region = np.asarray(synthetic(seed * 100000 + x, 4000, 3000), dtype=np.int16) + NOISE[seed][dy : dy + 3000, dx : dx + 4000]
    region = Image.fromarray(np.clip(region, 0, 255).astype(np.uint8))

    name, path = f"scene{x}", os.path.join(folder, f"IMG_{x:05d}.jpg")
    region.save(path, quality=90)
    paths = {path: name}
    if x % 10 == 0:
        export = os.path.join(folder, "exports", f"IMG_{x:05d}.jpg")
        region.resize((2000, 1500), Image.Resampling.LANCZOS).save(export, quality=75)
        paths[export] = name

    return paths


# Noise fields of scene(), by seed (one per worker process)
NOISE = {}


def identity(path):
    """
    The file a path names.
    """

    info = os.stat(path)
    return (info.st_dev, info.st_ino)


def score(groups, truth):
    """
    Pairwise precision and recall over distinct files.

    Args:
        groups: list of lists of paths
        truth: {path: picture}

    Returns:
        {"precision", "recall", "pairs", "found", "correct", "false": [(a, b), ...]}
    """

    files = {}
    for path, name in truth.items():
        files[identity(path)] = name

    predicted = {}
    for number, group in enumerate(groups):
        for path in group:
            predicted[identity(path)] = number

    true = {(a, b) for a, b in itertools.combinations(sorted(files), 2) if files[a] == files[b]}
    found = {(a, b) for a, b in itertools.combinations(sorted(predicted), 2) if predicted[a] == predicted[b] and a in files and b in files}
    correct = true & found

    names = {identity(path): path for path in truth}
    return {
        "precision": len(correct) / len(found) if found else 1.0,
        "recall": len(correct) / len(true) if true else 1.0,
        "pairs": len(true),
        "found": len(found),
        "correct": len(correct),
        "false": sorted((os.path.basename(names[a]), os.path.basename(names[b])) for a, b in found - true),
        "missed": sorted((os.path.basename(names[a]), os.path.basename(names[b])) for a, b in true - found),
    }


def ours(folder, workdir):
    """
    Runs `txtai-imagehash dedup FOLDER --json` at the defaults.

    Returns:
        (list of lists of paths, seconds)
    """

    output = os.path.join(workdir, "groups.json")
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "txtai_imagehash", "dedup", folder, "--json", output, "--quiet"], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if result.returncode not in (0, 1) or not os.path.exists(output):
        raise RuntimeError(result.stderr)

    with open(output, encoding="utf-8") as f:
        groups = json.load(f)

    return [[image["path"] for image in group["images"]] + [alias for image in group["images"] for alias in image.get("aliases", [])] for group in groups], seconds


def czkawka(python, folder, similarity):
    """
    Runs czkawka's engine in its own environment.

    Returns:
        (list of lists of paths, seconds)
    """

    # A fresh cache: czkawka keeps the hashes of files it has seen, a second run only reads them
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "HOME": home, "XDG_CACHE_HOME": os.path.join(home, "cache"), "XDG_CONFIG_HOME": os.path.join(home, "config")}
        start = time.perf_counter()
        result = subprocess.run([python, "-c", CZKAWKA, folder, str(similarity)], capture_output=True, text=True, check=True, env=env)
        return json.loads(result.stdout), time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", help="folder tree of real pictures (default: scikit-image's photos)")
    parser.add_argument("--limit", type=int, help="at most this many pictures")
    parser.add_argument("--peers", help="python of an environment with czkawka installed")
    parser.add_argument("--families", help="JSON {picture: family} of pictures that are versions of one design, null to leave a picture out")
    parser.add_argument("--camera", type=int, help="instead of families: this many camera-sized JPEG files, for speed")
    parser.add_argument("--keep", action="store_true", help="keep the folder built (printed)")
    args = parser.parse_args()

    families = {}
    if args.families:
        with open(args.families, encoding="utf-8") as f:
            families = {key: value for key, value in json.load(f).items() if not key.startswith("_")}

    workdir = tempfile.mkdtemp(prefix="txtai-imagehash-dedup-")
    folder = os.path.join(workdir, "pictures")
    if args.camera:
        truth = camera(args.camera, folder)
    else:
        images = {name: image for name, image in pictures(args.folder, args.limit).items() if families.get(name, name) is not None}
        truth = {path: families.get(name, name) for path, name in build(images, folder).items()}
    print(f"{len({identity(path) for path in truth})} files ({len(truth)} names) of {len(set(truth.values()))} pictures in {folder}\n")

    rows = []
    groups, seconds = ours(folder, workdir)
    rows.append(("txtai-imagehash dedup (defaults)", score(groups, truth), seconds))

    if args.peers:
        for similarity in (10, 5):
            groups, seconds = czkawka(args.peers, folder, similarity)
            rows.append((f"czkawka, similarity {similarity}", score(groups, truth), seconds))

    print("| method | precision | recall | pairs found / true | seconds | vs czkawka time |")
    print("| --- | --- | --- | --- | --- | --- |")
    baseline = next((seconds for name, _, seconds in rows if name.startswith("czkawka")), None)
    for name, result, seconds in rows:
        ratio = f"{seconds / baseline:.2f}x" if baseline else "-"
        print(f"| {name} | {result['precision']:.3f} | {result['recall']:.3f} | {result['correct']} / {result['pairs']} | {seconds:.1f} | {ratio} |")

    for name, result, _ in rows:
        if result["false"]:
            print(f"\n{name}: false pairs {result['false'][:20]}")
        if result["missed"]:
            print(f"{name}: missed pairs ({len(result['missed'])}) {result['missed'][:30]}")

    if not args.keep:
        subprocess.run(["rm", "-rf", workdir], check=False)
    else:
        print(f"\nkept {workdir}")


if __name__ == "__main__":
    main()
