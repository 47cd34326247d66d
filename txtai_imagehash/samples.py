"""
Samples module: real photos to try near-duplicate detection on (scikit-image's, or a folder's), unrelated distractor
images, and the edits a near-duplicate image search must see through (Copydays-style attacks). Used by the demo,
the tests, the notebooks and benchmarks/accuracy.py. The attacks need only Pillow; photos() without a folder and
distractors() need scikit-image (the `demo` extra).
"""

import os

from io import BytesIO

import numpy as np

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

from .images import convert

# scikit-image photos shipped inside the package (no download), by function name in skimage.data. "motorcycle" is
# the left view of stereo_motorcycle; the right view is left out, it is a near-duplicate of the left one.
PHOTOS = [
    "astronaut",
    "brick",
    "camera",
    "cell",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "grass",
    "gravel",
    "hubble_deep_field",
    "immunohistochemistry",
    "microaneurysms",
    "moon",
    "motorcycle",
    "page",
    "retina",
    "rocket",
    "text",
]

# The 12 photos of the demo collection and the tests: colour and grey, photos, scans and a silhouette
DEMO = [
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

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def photo(name):
    """
    Loads one of scikit-image's photos as an RGB PIL image. "motorcycle" is the left view of stereo_motorcycle.

    Args:
        name: function name in skimage.data, or "motorcycle"

    Returns:
        RGB PIL image
    """

    # pylint: disable=C0415
    try:
        from skimage import data
    except ImportError as error:
        raise ImportError('the sample photos come with scikit-image: pip install "txtai-imagehash[demo]"') from error

    pixels = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    return Image.fromarray(pixels).convert("RGB")


def photos(folder=None, names=None):
    """
    Loads real photos: every image in a folder and its subfolders, read as the package reads image files (EXIF
    orientation applied, transparent pixels composited onto white), or the photos scikit-image ships.

    Args:
        folder: optional folder of images
        names: scikit-image photos to load without a folder, defaults to PHOTOS

    Returns:
        dict of name -> RGB PIL image, names are paths relative to the folder, in sorted order
    """

    if folder:
        images = {}
        for directory, subdirs, files in os.walk(folder):
            subdirs.sort()
            for name in sorted(files):
                if name.lower().endswith(EXTENSIONS):
                    path = os.path.join(directory, name)
                    with Image.open(path) as image:
                        images[os.path.relpath(path, folder)] = convert(ImageOps.exif_transpose(image)).convert("RGB")

        return dict(sorted(images.items()))

    return {name: photo(name) for name in (names or PHOTOS)}


def distractors(count=24, seed=0):
    """
    Generates unrelated images: smooth noise at two scales, stripes, shapes, smooth noise, and small real image
    patches from scikit-image's lfw_subset (faces and non-faces), upscaled.

    Args:
        count: number of images
        seed: random seed

    Returns:
        dict of name -> RGB PIL image
    """

    random = np.random.default_rng(seed)
    images = {}

    # pylint: disable=C0415
    from skimage import data

    patches = data.lfw_subset()
    for x in range(count):
        kind = x % 6
        width, height = int(random.integers(240, 480)), int(random.integers(200, 400))
        if kind == 0:
            # Smooth noise at two scales
            coarse = Image.fromarray((random.random((4, 4, 3)) * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
            fine = Image.fromarray((random.random((24, 24, 3)) * 255).astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
            image = Image.blend(coarse, fine, 0.4)
        elif kind == 1:
            period = int(random.integers(10, 60))
            pixels = (np.arange(width)[None, :] + 0 * np.arange(height)[:, None]) // period % 2 * 200 + 30
            image = Image.fromarray(pixels.astype(np.uint8)).rotate(float(random.uniform(0, 180))).convert("RGB")
        elif kind == 2:
            image = Image.new("RGB", (width, height), tuple(int(c) for c in random.integers(0, 255, 3)))
            draw = ImageDraw.Draw(image)
            for _ in range(int(random.integers(2, 6))):
                box = sorted(random.integers(0, width, 2)) + sorted(random.integers(0, height, 2))
                shape = draw.ellipse if random.random() < 0.5 else draw.rectangle
                shape((box[0], box[2], box[1], box[3]), fill=tuple(int(c) for c in random.integers(0, 255, 3)))
        elif kind == 3:
            noise = random.random((8, 8, 3)) * 255
            image = Image.fromarray(noise.astype(np.uint8)).resize((width, height), Image.Resampling.BICUBIC)
        else:
            patch = patches[int(random.integers(0, len(patches)))]
            image = Image.fromarray((patch * 255).astype(np.uint8)).resize((width, width), Image.Resampling.BICUBIC).convert("RGB")

        images[f"distractor{x:02d}"] = image

    return images


def resize(image, factor):
    """
    Resizes an image by a factor of each side.
    """

    return image.resize((max(1, round(image.width * factor)), max(1, round(image.height * factor))), Image.Resampling.BICUBIC)


def jpeg(image, quality):
    """
    Re-encodes an image as JPEG.
    """

    output = BytesIO()
    image.save(output, format="JPEG", quality=quality)
    return Image.open(BytesIO(output.getvalue())).convert("RGB")


def center(image, area):
    """
    Crops the centre of an image keeping a share of its area, same aspect ratio.
    """

    factor = area**0.5
    width, height = image.width * factor, image.height * factor
    left, top = (image.width - width) / 2, (image.height - height) / 2
    return image.crop((round(left), round(top), round(left + width), round(top + height)))


def middle(image):
    """
    Crops the middle of an image exactly as txtai's near-duplicate image example does (a third of the width,
    1 / 1.35 of the height).
    """

    width, height = image.size
    left = (width - width / 3) / 2
    top = (height - height / 1.35) / 2
    right = (width + width / 3) / 2
    bottom = (height + height / 1.35) / 2
    return image.crop((left, top, right, bottom))


def offcentre(image, random, area=0.64):
    """
    Crops a region keeping a share of the area, same aspect ratio, at a random position away from the centre.
    """

    factor = area**0.5
    width, height = round(image.width * factor), round(image.height * factor)
    spare = (image.width - width, image.height - height)

    # A corner-ward position: at least a quarter of the spare margin away from the centre on one axis
    left = int(random.choice([random.uniform(0, 0.25), random.uniform(0.75, 1.0)]) * spare[0])
    top = int(random.uniform(0, 1.0) * spare[1])
    return image.crop((left, top, left + width, top + height))


def strip(image, share=0.15, size=(960, 600)):
    """
    Makes a mostly empty picture: the image squeezed into a strip at the right edge of a black canvas, as dark
    wallpapers with a pattern at one edge are.

    Args:
        image: PIL image
        share: width of the strip, as a share of the canvas width
        size: canvas (width, height)

    Returns:
        RGB PIL image
    """

    canvas = Image.new("RGB", size)
    picture = image.convert("RGB").resize((round(size[0] * share), size[1]), Image.Resampling.BICUBIC)
    canvas.paste(picture, (size[0] - picture.width, 0))
    return canvas


def border(image, share=0.05, color=(255, 255, 255)):
    """
    Adds a uniform border, share of the width on the left and right, of the height on top and bottom.
    """

    x, y = round(image.width * share), round(image.height * share)
    output = Image.new("RGB", (image.width + 2 * x, image.height + 2 * y), color)
    output.paste(image, (x, y))
    return output


def caption(image, share=0.15, text="Breaking: photo of the day, all rights reserved"):
    """
    Covers the bottom of an image with a black caption bar holding white text.
    """

    image = image.copy()
    height = max(1, round(image.height * share))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, image.height - height, image.width, image.height), fill=(0, 0, 0))

    font = ImageFont.load_default(size=max(8, height // 4))
    draw.text((max(2, image.width // 40), image.height - height + height // 3), text, fill=(255, 255, 255), font=font)
    return image


def squash(image):
    """
    Squashes an image to 3/4 of its height (a square becomes 4:3).
    """

    return image.resize((image.width, max(1, round(image.height * 0.75))), Image.Resampling.BICUBIC)


# Attack name -> function(image, random) -> image
ATTACKS = {
    "resize25": lambda image, random: resize(image, 0.25),
    "jpeg30": lambda image, random: jpeg(image, 30),
    "jpeg10": lambda image, random: jpeg(image, 10),
    "crop80": lambda image, random: center(image, 0.8),
    "crop50": lambda image, random: center(image, 0.5),
    "seedcrop": lambda image, random: middle(image),
    "offcrop": offcentre,
    "hflip": lambda image, random: image.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    # Rotation on an expanded canvas: the whole picture is kept, with black corners
    "rot5": lambda image, random: image.rotate(5, Image.Resampling.BICUBIC, expand=True),
    "rot90": lambda image, random: image.transpose(Image.Transpose.ROTATE_90),
    "bright30": lambda image, random: ImageEnhance.Brightness(image).enhance(1.3),
    "contrast-30": lambda image, random: ImageEnhance.Contrast(image).enhance(0.7),
    "gray": lambda image, random: image.convert("L").convert("RGB"),
    "blur": lambda image, random: image.filter(ImageFilter.GaussianBlur(max(1.0, min(image.size) / 200))),
    "border5": lambda image, random: border(image),
    "caption": lambda image, random: caption(image),
    "squash43": lambda image, random: squash(image),
}


def attack(image, name, seed=0):
    """
    Applies one attack to an image.

    Args:
        image: RGB PIL image
        name: attack name in ATTACKS
        seed: random seed for attacks with random parameters

    Returns:
        attacked RGB PIL image
    """

    if name not in ATTACKS:
        raise ValueError(f"Unknown attack {name!r}: expected one of {', '.join(ATTACKS)}")

    return ATTACKS[name](image, np.random.default_rng(seed)).convert("RGB")


def attacks(images, names=None, seed=0):
    """
    Applies attacks to images.

    Args:
        images: dict of name -> RGB PIL image
        names: attack names, defaults to all of ATTACKS
        seed: base random seed

    Returns:
        list of (original name, attack name, attacked image)
    """

    names = names if names else list(ATTACKS)
    return [(key, name, attack(image, name, seed + x)) for x, (key, image) in enumerate(images.items()) for name in names]


# Versions of one picture as wallpaper packages and photo exports ship them: (name, width:height aspect, share of
# the source's long side). A 9:16 version is a phone crop: a vertical slice of a landscape picture.
VERSIONS = [
    ("full", None, 1.0),
    ("wide", (16, 9), 0.75),
    ("laptop", (16, 10), 0.5),
    ("classic", (4, 3), 0.6),
    ("square", (5, 4), 0.4),
    ("phone", (9, 16), 0.5),
    ("screenshot", (16, 10), 0.12),
]

# Smallest long side of a version, in pixels
SMALLEST = 160


def aspect(image, ratio):
    """
    Crops the centre of an image to an aspect ratio, as wallpaper sizes are cut from one picture.

    Args:
        image: PIL image
        ratio: (width, height)

    Returns:
        PIL image
    """

    width, height = image.size
    target = ratio[0] / ratio[1]
    if width / height > target:
        crop = round(height * target)
        left = (width - crop) // 2
        return image.crop((left, 0, left + crop, height))

    crop = round(width / target)
    top = (height - crop) // 2
    return image.crop((0, top, width, top + crop))


def family(image, folder, name, versions=None, links=True):
    """
    Writes the versions of one picture into a folder: its sizes, aspect crops, a phone crop and a small
    screenshot, as JPEG and PNG files, plus (with links) a relative symbolic link, an absolute one and a hard link
    to some of them, as wallpaper packages install them.

    Args:
        image: RGB PIL image
        folder: folder to write into (created)
        name: picture name, the prefix of its files
        versions: list of VERSIONS entries, defaults to all
        links: also write symbolic and hard links

    Returns:
        list of the paths written, links included
    """

    os.makedirs(folder, exist_ok=True)
    paths = []
    for x, (version, ratio, share) in enumerate(versions or VERSIONS):
        # Shares of the picture's long side, and at least SMALLEST pixels (screenshots are previews, not icons)
        copy = aspect(image, ratio) if ratio else image
        scale = max(share * max(image.size), min(SMALLEST, max(image.size))) / max(copy.size)
        copy = copy.resize((max(8, round(copy.width * scale)), max(8, round(copy.height * scale))), Image.Resampling.LANCZOS)

        # Mostly JPEG at several qualities, some PNG
        path = os.path.join(folder, f"{name}-{version}-{copy.width}x{copy.height}" + (".png" if x % 3 == 2 else ".jpg"))
        copy.save(path, **({} if path.endswith(".png") else {"quality": 95 - 10 * (x % 3)}))
        paths.append(path)

    if links and len(paths) > 2:
        # Sizes that are other names of one file: a relative symbolic link, an absolute one, a hard link
        for kind, target in (("link", paths[0]), ("abslink", paths[1]), ("hardlink", paths[2])):
            path = os.path.join(folder, f"{name}-{kind}{os.path.splitext(target)[1]}")
            if kind == "hardlink":
                os.link(target, path)
            else:
                os.symlink(os.path.basename(target) if kind == "link" else os.path.abspath(target), path)
            paths.append(path)

    return paths
