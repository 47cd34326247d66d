"""
Thumbnail sheets for the notebooks: images side by side with a label under each, as one small JPEG (quality 70), so
that a notebook stored with its outputs stays small and reads on GitHub.
"""

import base64
import html
import re

from io import BytesIO

from IPython.display import Image as Picture
from PIL import Image, ImageDraw, ImageFont


def show(images, labels, height=150, columns=6):
    """
    Shows images side by side, a label under each.

    Args:
        images: PIL images or image paths
        labels: one label per image (may hold line breaks)
        height: thumbnail height in pixels
        columns: images per row

    Returns:
        IPython Image to display
    """

    images = [Image.open(image) if isinstance(image, str) else image for image in images]
    font = ImageFont.load_default(size=12)
    thumbs = [image.convert("RGB").resize((max(1, round(image.width * height / image.height)), height)) for image in images]
    lines = max(label.count("\n") + 1 for label in labels)
    width, below = max(max(thumb.width for thumb in thumbs), 150) + 10, 14 * lines + 12
    rows = (len(thumbs) + columns - 1) // columns

    sheet = Image.new("RGB", (width * min(columns, len(thumbs)), rows * (height + below)), "white")
    draw = ImageDraw.Draw(sheet)
    for x, (thumb, label) in enumerate(zip(thumbs, labels)):
        left, top = (x % columns) * width, (x // columns) * (height + below)
        sheet.paste(thumb, (left + (width - thumb.width) // 2, top + 5))
        draw.multiline_text((left + 5, top + height + 8), label, fill="black", font=font, spacing=2)

    output = BytesIO()
    sheet.save(output, format="JPEG", quality=70)
    return Picture(data=output.getvalue(), format="jpeg")


def report(path, height=110):
    """
    Shows the groups of an HTML report written by `txtai-imagehash dedup --html`: the thumbnails it embeds, each with
    its badge (KEEP or why it is a duplicate) and file name, one row per group.

    Args:
        path: report file
        height: thumbnail height in pixels

    Returns:
        list of IPython Images to display, one per group
    """

    with open(path, encoding="utf-8") as f:
        page = f.read()

    groups = []
    for section in re.findall(r'<section class="group".*?</section>', page, re.S):
        images, labels = [], []
        for figure in re.findall(r"<figure.*?</figure>", section, re.S):
            source = re.search(r'src="data:image/jpeg;base64,([^"]+)"', figure).group(1)
            badge = re.search(r'<span class="badge">(.*?)</span>', figure).group(1)
            name = re.search(r'<div class="name">(.*?)</div>', figure).group(1)
            images.append(Image.open(BytesIO(base64.b64decode(source))))
            labels.append("\n".join(html.unescape(badge).split(" \u00b7 ") + [html.unescape(name)]))

        groups.append(show(images, labels, height=height))

    return groups
