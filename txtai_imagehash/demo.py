"""
Demo module: builds a small photo collection with near-duplicates from scikit-image's sample photographs.
"""

import os

from io import BytesIO

from PIL import Image, ImageDraw, ImageEnhance

# scikit-image sample photographs shipped with the package (no download)
PHOTOS = [
    "astronaut",
    "coffee",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
    "coins",
    "horse",
    "page",
    "clock",
]


def reencode(image, quality):
    """
    Re-encodes an image as JPEG, as a messenger or a photo site does.
    """

    output = BytesIO()
    image.save(output, format="JPEG", quality=quality)
    return Image.open(BytesIO(output.getvalue())).convert("RGB")


def caption(image, text="(c) 2024 txtai"):
    """
    Stamps a small caption in the lower right corner.
    """

    image = image.copy()
    draw = ImageDraw.Draw(image)
    width, height = image.size
    draw.rectangle((width * 0.62, height * 0.9, width * 0.98, height * 0.97), fill=(255, 255, 255))
    draw.text((width * 0.64, height * 0.91), text, fill=(0, 0, 0))
    return image


def half(image):
    """
    Halves an image's size, as a phone export does.
    """

    return image.resize((image.width // 2, image.height // 2), Image.LANCZOS)


def crop(image, margin=0.03):
    """
    Crops a thin margin off each side.
    """

    width, height = image.size
    return image.crop((int(width * margin), int(height * margin), int(width * (1 - margin)), int(height * (1 - margin))))


# Near-duplicates: (file, source photo, edit, save options)
VARIANTS = [
    ("phone-export/IMG_0001.jpg", "astronaut", half, {"quality": 75}),
    ("edited/astronaut-tilted.jpg", "astronaut", lambda image: image.rotate(2, resample=Image.BICUBIC), {"quality": 90}),
    ("phone-export/IMG_0002.jpg", "chelsea", half, {"quality": 75}),
    ("downloads/chelsea (1).jpg", "chelsea", lambda image: reencode(image, 30), {"quality": 30}),
    ("edited/rocket-cropped.jpg", "rocket", crop, {"quality": 90}),
    ("edited/coffee-brighter.jpg", "coffee", lambda image: ImageEnhance.Brightness(image).enhance(1.1), {"quality": 80}),
    ("edited/horse-captioned.jpg", "horse", caption, {"quality": 90}),
    ("downloads/camera.jpg", "camera", lambda image: reencode(image, 30), {"quality": 30}),
    ("phone-export/IMG_0003.jpg", "clock", half, {"quality": 75}),
]

# A file that looks like a photo but is cut off: it is reported, never stops the run
BROKEN = "downloads/truncated.jpg"


def build(folder):
    """
    Builds the demo collection: the 12 photographs as JPEGs in photos/, 9 near-duplicates of 7 of them
    (resized, re-compressed, cropped, tilted, brightened, captioned) in other folders, and one truncated file.

    Args:
        folder: output folder, created if needed

    Returns:
        {"photos": n, "duplicates": n, "groups": n expected duplicate groups, "files": [paths]}
    """

    # pylint: disable=C0415
    try:
        from skimage import data
    except ImportError as error:
        raise ImportError("the demo needs scikit-image's sample photos: pip install 'txtai-imagehash[demo]'") from error

    images = {name: Image.fromarray(getattr(data, name)()).convert("RGB") for name in PHOTOS}

    files = []
    for name, image in images.items():
        files.append(save(image, os.path.join(folder, "photos", f"{name}.jpg"), quality=92))

    for relative, name, edit, options in VARIANTS:
        files.append(save(edit(images[name]), os.path.join(folder, relative), **options))

    # First half of a real JPEG
    output = BytesIO()
    images["coins"].save(output, format="JPEG", quality=90)
    path = os.path.join(folder, BROKEN)
    with open(path, "wb") as f:
        f.write(output.getvalue()[: len(output.getvalue()) // 2])
    files.append(path)

    return {"photos": len(images), "duplicates": len(VARIANTS), "groups": len({name for _, name, _, _ in VARIANTS}), "files": files}


def save(image, path, **options):
    """
    Saves an image, creating its folder.
    """

    os.makedirs(os.path.dirname(path), exist_ok=True)
    image.save(path, **options)
    return path
