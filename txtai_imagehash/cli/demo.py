"""
Demo command: demo [--output DIR]. Builds a small photo collection with near-duplicates from scikit-image's sample
photographs, indexes it, finds the duplicates and writes the HTML report.
"""

import os
import shutil

from io import BytesIO

from PIL import Image, ImageDraw, ImageEnhance

from ..samples import DEMO, jpeg, photos
from .errors import OK, UsageError
from .indexes import open_index, threshold, sync
from .output import table


def run(args):
    """
    Builds the demo collection in args.output, indexes it, prints its duplicate groups and writes the report.

    Args:
        args: parsed arguments

    Returns:
        exit code
    """

    # The demo index is the command line's default: 192-bit combined hashes
    threshold(args, {"algorithm": "combined", "size": 8})

    output = os.path.abspath(args.output)
    marker = os.path.join(output, ".txtai-imagehash-demo")
    if os.path.isfile(marker):
        # A previous demo: only files this command made
        shutil.rmtree(output)
    elif os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise UsageError(f"{output} is not empty and not a previous demo: choose another folder with --output")

    os.makedirs(output, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as f:
        f.write("Made by 'txtai-imagehash demo': the next demo run replaces this folder.\n")

    collection = os.path.join(output, "collection")
    try:
        info = build(collection)
    except ImportError as error:
        raise UsageError(str(error)) from None

    print(
        f"Built a collection of {len(info['files'])} files in {collection}: {info['photos']} photos, {info['duplicates']} edited copies "
        "(resized, re-compressed, cropped, tilted, brightened, captioned) and 1 truncated file"
    )

    args.index, args.store_images, args.algorithm, args.hash_size = os.path.join(output, "index"), False, None, None
    args.workers, args.fast, args.keypoints = 1, False, None
    embeddings, pipeline = open_index(args)
    sync(args, embeddings, pipeline, collection)

    # pylint: disable=C0415
    from ..duplicates import tojson
    from .dedup import find
    from .report import write

    groups = find(embeddings, args)
    print()
    table(groups)

    with open(os.path.join(output, "duplicates.json"), "w", encoding="utf-8") as f:
        f.write(tojson(groups) + "\n")
    report = write(groups, os.path.join(output, "report.html"), title="Duplicate images: txtai-imagehash demo", source=collection)

    print(f"\nReport: {report}\n  open it in a browser: file://{report}")
    print(f"Try next:\n  txtai-imagehash search {os.path.join(collection, 'edited', 'rocket-cropped.jpg')} --index {args.index}")
    print(f"  txtai-imagehash dedup {collection} --index {args.index} --move-to {os.path.join(output, 'duplicates')}")
    return OK


def stamp(image, text="(c) 2024 txtai"):
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
    ("downloads/chelsea (1).jpg", "chelsea", lambda image: jpeg(image, 30), {"quality": 30}),
    ("edited/rocket-cropped.jpg", "rocket", crop, {"quality": 90}),
    ("edited/coffee-brighter.jpg", "coffee", lambda image: ImageEnhance.Brightness(image).enhance(1.1), {"quality": 80}),
    ("edited/horse-captioned.jpg", "horse", stamp, {"quality": 90}),
    ("downloads/camera.jpg", "camera", lambda image: jpeg(image, 30), {"quality": 30}),
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

    images = photos(names=DEMO)

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
