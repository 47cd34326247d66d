"""
Hash sizes and thresholds: every value either works or is a usage error (exit code 2) naming the allowed range,
given before txtai is imported.
"""

import json
import subprocess
import sys

import pytest

from txtai_imagehash import ImageHash

from helpers import run


@pytest.mark.parametrize(
    "argv, message",
    [
        (["index", "FOLDER", "--index", "INDEX", "--algorithm", "average", "--hash-size", "1"], "--hash-size 1 for average: expected an integer from 2 to 64"),
        (["index", "FOLDER", "--index", "INDEX", "--algorithm", "average", "--hash-size", "65"], "--hash-size 65 for average: expected an integer from 2 to 64"),
        (["index", "FOLDER", "--index", "INDEX", "--hash-size", "37"], "--hash-size 37 for combined: expected an integer from 2 to 36"),
        (["index", "FOLDER", "--index", "INDEX", "--algorithm", "wavelet", "--hash-size", "12"], "a power of two from 2 to 64"),
        (["index", "FOLDER", "--index", "INDEX", "--algorithm", "color", "--hash-size", "17"], "expected an integer from 1 to 16"),
        (["dedup", "FOLDER", "--algorithm", "average", "--threshold", "64"], "--threshold 64: expected an integer from 0 to 63 (64-bit average hashes)"),
        (["dedup", "FOLDER", "--threshold", "192"], "--threshold 192: expected an integer from 0 to 191 (192-bit combined hashes)"),
        (["dedup", "FOLDER", "--algorithm", "average", "--hash-size", "16", "--threshold", "256"], "expected an integer from 0 to 255 (256-bit average hashes)"),
        (["demo", "--threshold", "192"], "expected an integer from 0 to 191"),
        (["search", "IMAGE", "--index", "INDEX", "-k", str(2**63)], "expected an integer from 1 to"),
    ],
)
def test_usage_errors(tmp_path, argv, message):
    """
    Out of range: exit code 2 with the range, and txtai never imported.
    """

    folder = tmp_path / "images"
    folder.mkdir()
    argv = [str(folder) if x == "FOLDER" else str(tmp_path / "index") if x == "INDEX" else str(tmp_path / "x.jpg") if x == "IMAGE" else x for x in argv]

    code = f"import sys\nfrom txtai_imagehash.cli import main\ncode = main({argv!r})\nassert 'txtai' not in sys.modules\nsys.exit(code)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_pipeline_sizes():
    """
    ImageHash refuses sizes it cannot hash, at construction.
    """

    # pylint: disable=C0415
    from txtai_imagehash.checks import hashsize

    for algorithm, size in [("average", 1), ("average", 65), ("wavelet", 12), ("combined", 37), ("color", 0)]:
        with pytest.raises(ValueError, match=f"hash size {size} for {algorithm}"):
            ImageHash(algorithm=algorithm, size=size)

    for algorithm, size in [("average", 2), ("average", 64), ("wavelet", 64), ("combined", 36), ("color", 16)]:
        assert hashsize(algorithm, size) == size
        assert ImageHash(algorithm=algorithm, size=size).size == size


@pytest.mark.slow
@pytest.mark.parametrize("size", [26, 64])
def test_sizes_work(tmp_path, photos, size):
    """
    The largest hash size, and 26 (the first with a default threshold over 64 bits), index, dedup at the default threshold
    and search.
    """

    folder, index = tmp_path / "images", tmp_path / "index"
    folder.mkdir()
    photos["coffee"].save(folder / "coffee.jpg", quality=90)
    photos["coffee"].save(folder / "coffee-copy.jpg", quality=60)
    photos["rocket"].save(folder / "rocket.jpg")

    result = run("dedup", folder, "--index", index, "--algorithm", "average", "--hash-size", size, "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    groups = json.loads(result.stdout)
    assert any(sorted(image["path"] for image in group["images"]) == [str(folder / "coffee-copy.jpg"), str(folder / "coffee.jpg")] for group in groups)

    result = run("search", folder / "rocket.jpg", "--index", index, "--json", "-k", "1")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["path"] == str(folder / "rocket.jpg")
