"""
De-duplication of real, messy folders: pictures in many versions (sizes, aspect and phone crops, screenshots), with
symbolic links to files and folders (relative and absolute, inside and outside the folder) and hard links. Files,
not paths: links are other names of one file, never its duplicates.
"""

import os

import pytest

from PIL import ImageOps

from txtai_imagehash import dedup
from txtai_imagehash.files import walk
from txtai_imagehash.keypoints.verify import INLIERS
from txtai_imagehash.samples import VERSIONS, family, photo


@pytest.fixture(scope="module")
def messy(tmp_path_factory, photos):
    """
    A folder of picture families with every kind of link, and an outside folder some links lead to.

    Returns:
        (folder, outside folder, {real path: picture name})
    """

    base = tmp_path_factory.mktemp("messy")
    folder, outside = base / "pictures", base / "elsewhere"
    outside.mkdir()

    truth = {}
    for name in ["astronaut", "coffee", "chelsea", "rocket"]:
        for path in family(photos[name], folder / name, name):
            truth[os.path.realpath(path)] = name

    # Mirror images (ORB descriptors are not mirror invariant: keypoints check them on the mirrored picture)
    for name in ["chelsea", "rocket"]:
        ImageOps.mirror(photos[name]).save(folder / name / f"{name}-mirrored.jpg", quality=90)
        truth[os.path.realpath(folder / name / f"{name}-mirrored.jpg")] = name

    # Textures: different pictures of the same kind, which must stay apart
    for name in ["brick", "gravel", "grass"]:
        for path in family(photo(name), folder / "textures", name, links=False):
            truth[os.path.realpath(path)] = name

    # A symbolic link to a folder inside (files reached twice), and one to a folder outside with a copy in it
    os.symlink(folder / "rocket", folder / "rocket-again")
    photos["coffee"].save(outside / "coffee-outside.jpg", quality=90)
    os.symlink(outside, folder / "outside-folder")
    os.symlink(outside / "coffee-outside.jpg", folder / "coffee" / "coffee-outside-link.jpg")
    truth[os.path.realpath(outside / "coffee-outside.jpg")] = "coffee"

    return folder, outside, truth


@pytest.fixture(scope="module")
def groups(messy):
    folder, _, _ = messy
    return dedup(str(folder))


def test_files_not_paths(messy):
    """
    The walk lists each file once, by its real path, with every other name it has below the folder.
    """

    folder, outside, _ = messy
    files = walk(folder)
    paths = [file.path for file in files]
    assert len(paths) == len(set(paths)) and paths == sorted(paths)

    byname = {os.path.basename(file.path): file for file in files}
    link = byname["astronaut-full-512x512.jpg"]
    assert link.inside and os.path.join(os.path.realpath(folder), "astronaut", "astronaut-link.jpg") in link.aliases

    # A hard link is a second real name: the smaller path names the file, the other is an alias
    hard = [file for file in files if any(alias.endswith("astronaut-hardlink.png") for alias in file.aliases + (file.path,))]
    assert len(hard) == 1 and len(hard[0].aliases) == 1

    # A folder reached through a link is walked once: its files by their real paths (moving one leaves the folder
    # link valid, so the names through it are not aliases)
    assert not any("rocket-again" in path for file in files for path in (file.path,) + file.aliases)
    assert sum("rocket-full" in file.path for file in files) == 1

    # A file outside, reached through links: listed, not the folder's to move
    away = next(file for file in files if file.path == os.path.realpath(outside / "coffee-outside.jpg"))
    assert not away.inside and len(away.aliases) == 2


def test_groups(messy, groups):
    """
    Every version of a picture is in its picture's group (phone crops included), no group mixes pictures, and two
    names of one file are never duplicates of each other.
    """

    _, _, truth = messy
    for group in groups:
        names = {truth[os.path.realpath(image["path"])] for image in group["images"]}
        assert len(names) == 1, [image["path"] for image in group["images"]]

        identities = [os.stat(image["path"]).st_ino for image in group["images"]]
        assert len(identities) == len(set(identities))

    # Each family is one group of all its distinct files (textures included, each apart from the others)
    found = {truth[os.path.realpath(group["images"][0]["path"])]: group for group in groups}
    for name in set(truth.values()):
        files = {os.stat(path).st_ino for path, picture in truth.items() if picture == name}
        assert {os.stat(image["path"]).st_ino for image in found[name]["images"]} == files, name

    # The phone crops are found, as crops of their keeper
    phones = [image for group in groups for image in group["images"] if "-phone-" in image["path"]]
    assert len(phones) == len(set(truth.values())) and all(image["match"] == "crop" and image["share"] < 0.6 for image in phones)

    # Mirror images are found, as flipped copies that keypoints confirm
    mirrored = [image for group in groups for image in group["images"] if "-mirrored" in image["path"]]
    assert len(mirrored) == 2 and all(image["match"] == "flipped" and image["inliers"] >= INLIERS for image in mirrored)


def test_keepers_are_real_files(messy, groups):
    """
    A keeper is a real file inside the folder, with its links as aliases; the file outside the folder is never the
    keeper.
    """

    folder, _, _ = messy
    real = os.path.realpath(folder)
    for group in groups:
        keeper = group["images"][0]
        assert keeper["match"] == "keeper" and not os.path.islink(keeper["path"]) and keeper["path"].startswith(real + os.sep)

    coffee = next(group for group in groups if "coffee" in group["images"][0]["path"])
    assert any(image["path"].endswith("coffee-outside.jpg") and image["match"] == "same" for image in coffee["images"][1:])


def test_keep_rules(messy, photos, tmp_path):
    """
    --keep chooses the keeper by size, pixels or date; files below a reference folder are always kept.
    """

    folder = tmp_path / "rules"
    paths = family(photos["coffee"], folder / "all", "coffee", versions=VERSIONS[:3], links=False)
    os.utime(paths[2], ns=(1, 1))
    os.makedirs(folder / "reference")
    os.rename(paths[1], folder / "reference" / os.path.basename(paths[1]))

    def keeper(**options):
        group, = dedup(str(folder), **options)
        return os.path.basename(group["images"][0]["path"])

    assert keeper() == os.path.basename(paths[0])
    assert keeper(keep="oldest") == os.path.basename(paths[2])
    assert keeper(reference=[str(folder / "reference")]) == os.path.basename(paths[1])

    group, = dedup(str(folder), reference=[str(folder / "reference")])
    assert group["images"][0].get("reference") and all(not image.get("reference") for image in group["images"][1:])

    with pytest.raises(ValueError, match="keep"):
        dedup(str(folder), keep="prettiest")


def names(folder):
    """
    Every name below folder: file bytes by relative path, and link texts for symbolic links.
    """

    output = {}
    for directory, subdirs, files in os.walk(folder):
        for name in subdirs + files:
            path = os.path.join(directory, name)
            key = os.path.relpath(path, folder)
            if os.path.islink(path):
                output[key] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    output[key] = ("file", f.read(), os.stat(path).st_ino)

    return output


def dangling(*folders):
    """
    Symbolic links below folders that lead nowhere.
    """

    return [os.path.join(d, n) for folder in folders for d, _, files in os.walk(folder) for n in files if not os.path.exists(os.path.join(d, n))]


@pytest.mark.slow
def test_move_keeps_files_and_links(tmp_path, photos):
    """
    The issue's folder: a real file, a symbolic link to it and a hard link, beside a better copy. --move-to moves the
    duplicate with all its names and leaves no link dangling; the keeper is a real file; a link out of the folder is
    left alone; undo puts every path back, byte for byte and link for link.
    """

    # pylint: disable=C0415
    from helpers import run

    folder, outside, aside = tmp_path / "p", tmp_path / "elsewhere", tmp_path / "dups"
    (folder / "sub").mkdir(parents=True)
    outside.mkdir()
    photos["coffee"].save(folder / "b.jpg", quality=80)
    os.symlink("b.jpg", folder / "a.jpg")
    os.link(folder / "b.jpg", folder / "c.jpg")
    os.symlink(folder / "b.jpg", folder / "sub" / "absolute.jpg")
    photos["coffee"].save(folder / "sub" / "d.png")
    photos["coffee"].save(outside / "far.jpg", quality=70)
    os.symlink(outside / "far.jpg", folder / "far-link.jpg")

    before, away = names(folder), names(outside)
    result = run("dedup", folder, "--move-to", aside)
    assert result.returncode == 0, result.stderr

    # The PNG keeps (most bytes); the JPEG moved with its hard link and both symbolic links, none dangling
    assert sorted(names(folder)) == ["far-link.jpg", os.path.join("sub", "d.png")]
    assert not dangling(folder, aside)
    moved = names(aside)
    assert {key for key in moved if not key.endswith(".json") and moved[key][0] == "file"} == {"b.jpg", "c.jpg"}
    assert moved["b.jpg"][2] == moved["c.jpg"][2] and moved["b.jpg"][1] == before["b.jpg"][1]
    assert os.path.realpath(aside / "a.jpg") == os.path.realpath(aside / "sub" / "absolute.jpg") == str(aside / "b.jpg")
    assert "far-link.jpg" in result.stdout and "left in place" in result.stdout and names(outside) == away

    # Undo: every name back as it was, links with their own texts, hard links one file again
    manifest = next(str(aside / key) for key in moved if key.endswith(".json"))
    result = run("undo", manifest)
    assert result.returncode == 0, result.stderr
    after = names(folder)
    assert after == before and not dangling(folder)
