"""
Start-up benchmark: how long the command line takes to answer when it needs no index (help, version, usage errors,
undo), and what `import txtai_imagehash` costs, as ratios against `python -c pass` measured in the same run.

    .venv/bin/python benchmarks/startup.py [--runs 15]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def timed(command, runs):
    """
    Median wall time of a command over runs, in seconds, and its last exit code.
    """

    times, code = [], None
    for _ in range(runs):
        start = time.perf_counter()
        code = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode
        times.append(time.perf_counter() - start)

    return statistics.median(times), code


def manifest(folder):
    """
    A manifest of one move whose file is already back in place: undo reads it, checks it and moves nothing.
    """

    os.makedirs(os.path.join(folder, "aside"))
    with open(os.path.join(folder, "photo.jpg"), "wb") as f:
        f.write(b"not moved")

    path = os.path.join(folder, "aside", "txtai-imagehash-manifest.json")
    content = {"version": 1, "target": os.path.join(folder, "aside"), "root": folder, "index": None, "moves": [
        {"id": "photo.jpg", "from": os.path.join(folder, "photo.jpg"), "to": os.path.join(folder, "aside", "photo.jpg"), "bytes": 9, "keeper": None, "group": 1}
    ]}
    with open(path, "w", encoding="utf-8") as f:
        json.dump(content, f)

    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="runs per command (median reported)")
    args = parser.parse_args()

    python, cli = sys.executable, [sys.executable, "-m", "txtai_imagehash"]
    with tempfile.TemporaryDirectory() as folder:
        commands = [
            ("python -c pass (baseline)", [python, "-c", "pass"]),
            ("import txtai_imagehash", [python, "-c", "import txtai_imagehash"]),
            ("txtai-imagehash --help", cli + ["--help"]),
            ("txtai-imagehash --version", cli + ["--version"]),
            ("usage error: unknown option", cli + ["dedup", "--no-such-option"]),
            ("usage error: no FOLDER nor --index", cli + ["dedup"]),
            ("usage error: search without an index", cli + ["search", "x.jpg", "--index", os.path.join(folder, "missing")]),
            ("undo (nothing to move)", cli + ["undo", manifest(folder)]),
            ("import txtai (for comparison)", [python, "-c", "import txtai"]),
        ]

        results = [(name, *timed(command, args.runs)) for name, command in commands]

    baseline = results[0][1]
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, {args.runs} runs each, median\n")
    print("| command | exit code | seconds | vs python -c pass |")
    print("| --- | --- | --- | --- |")
    for name, seconds, code in results:
        print(f"| {name} | {code} | {seconds:.3f} | {seconds / baseline:.1f}x |")


if __name__ == "__main__":
    main()
