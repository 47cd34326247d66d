"""
Report module: a self-contained HTML page of duplicate groups, thumbnails embedded as data URIs.
"""

import base64
import html
import os
import time

from io import BytesIO

from ..images import ImageError, decode, draft
from ..files import within
from .output import humanize, reason

# Longest thumbnail side in pixels
THUMBNAIL = 240

STYLE = """
:root { --keep: #1a7f37; --dup: #9a6700; --line: #d0d7de; --muted: #57606a; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
header { padding: 20px 28px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 6px; }
.summary { color: var(--muted); margin: 0; }
.summary b { color: #1f2328; }
main { padding: 20px 28px; }
.group { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 0 0 18px; padding: 12px 16px 16px; }
.group h2 { font-size: 15px; margin: 0 0 10px; }
.group h2 span { color: var(--muted); font-weight: normal; }
.images { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 0; width: 264px; border: 2px solid var(--line); border-radius: 6px; padding: 10px; background: #fff; }
figure.keeper { border-color: var(--keep); }
.frame { height: 240px; display: flex; align-items: center; justify-content: center; background: #eaeef2; border-radius: 4px; }
.frame img { max-width: 240px; max-height: 240px; display: block; }
.thumb { position: relative; display: inline-block; }
.regions { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
.region { fill: rgba(154, 103, 0, 0.12); stroke: #9a6700; vector-effect: non-scaling-stroke; stroke-width: 2px; }
.alias { color: var(--muted); font-size: 11.5px; word-break: break-all; }
.missing { color: #cf222e; padding: 8px; text-align: center; }
figcaption { margin-top: 8px; font-size: 12.5px; }
.badge { display: inline-block; font-size: 11px; font-weight: 600; padding: 1px 7px; border-radius: 10px; color: #fff; background: var(--dup); }
.keeper .badge { background: var(--keep); }
.name { font-weight: 600; word-break: break-all; margin: 4px 0 2px; }
.meta { color: var(--muted); }
.path { color: var(--muted); font-size: 11.5px; word-break: break-all; }
code { font-size: 11.5px; word-break: break-all; }
.empty { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 24px; }
"""


def thumbnail(path, size=THUMBNAIL):
    """
    Makes a JPEG thumbnail of an image as a data URI.

    Args:
        path: image path
        size: longest side in pixels

    Returns:
        data URI string
    """

    # Reduced-scale JPEG decoding: much faster for camera photos, same thumbnail; transparency flattened onto white
    image = decode(draft(path, longest=2 * size) or path, exif=True, name=path, normalize=True)
    image = image.copy()
    image.thumbnail((size, size))
    output = BytesIO()
    image.convert("RGB").save(output, format="JPEG", quality=82)
    return "data:image/jpeg;base64," + base64.b64encode(output.getvalue()).decode("ascii")


def figure(image, keeper, root=None, regions=()):
    """
    Renders one image of a group.

    Args:
        image: image dict of a group
        keeper: True if this image is the group's keeper
        root: folder that paths are shown relative to, when they are inside it
        regions: for the keeper, (member number, region) of members that show part of it, outlined on its thumbnail

    Returns:
        HTML string
    """

    path = image.get("path") or ""
    try:
        frame = f'<span class="thumb"><img alt="{html.escape(os.path.basename(path))}" src="{thumbnail(path)}">{outlines(regions)}</span>'
    except ImageError as error:
        frame = f'<div class="missing">No thumbnail: {html.escape(error.reason)}</div>'

    width, height = image.get("width"), image.get("height")
    dimensions = f"{width} &times; {height}" if width and height else "size unknown"
    shown = path
    if root and path and within(path, str(root)):
        shown = os.path.relpath(path, root)

    badge = "KEEP" if keeper else html.escape(reason(image))
    aliases = "".join(f'<div class="alias" title="{html.escape(alias)}">also: {html.escape(os.path.basename(alias))}</div>' for alias in image.get("aliases", []))
    match = "keeper" if keeper else image.get("match", "duplicate")

    return (
        f'<figure class="{"keeper" if keeper else "duplicate"}" data-id="{html.escape(str(image.get("id")))}" data-match="{html.escape(str(match))}">'
        f'<div class="frame">{frame}</div>'
        "<figcaption>"
        f'<span class="badge">{badge}</span>'
        f'<div class="name">{html.escape(os.path.basename(path) or str(image.get("id")))}</div>'
        f'<div class="meta">{dimensions} &middot; {humanize(image.get("bytes"))}</div>'
        f'<div class="path" title="{html.escape(path)}">{html.escape(shown)}</div>{aliases}'
        f'<code>{html.escape(str(image.get("hash") or ""))}</code>'
        "</figcaption></figure>"
    )


def outlines(regions):
    """
    Outlines the regions of a keeper that its members show, as an SVG over its thumbnail.

    Args:
        regions: list of (member number, region as 4 [x, y] corners in 0..1)

    Returns:
        SVG string, empty without regions
    """

    if not regions:
        return ""

    shapes = "".join(
        f'<polygon class="region" data-member="{number}" points="{" ".join(f"{x:.4f},{y:.4f}" for x, y in region)}"/>' for number, region in regions
    )
    return f'<svg class="regions" viewBox="0 0 1 1" preserveAspectRatio="none">{shapes}</svg>'


def render(groups, title="Duplicate images", source=None):
    """
    Renders duplicate groups as a self-contained HTML page: no external files, thumbnails embedded.

    Args:
        groups: duplicate groups, see txtai_imagehash.dedup
        title: page title
        source: optional description of what was searched (folder or index path); paths inside a source folder
                are shown relative to it

    Returns:
        HTML string
    """

    duplicates = sum(len(group["images"]) - 1 for group in groups)
    reclaimable = sum(image.get("bytes") or 0 for group in groups for image in group["images"] if image["id"] != group["keeper"])

    sections = []
    for number, group in enumerate(groups, start=1):
        root = source if source and os.path.isdir(str(source)) else None
        regions = [(x, image["region"]) for x, image in enumerate(group["images"][1:], start=1) if image.get("match") == "crop" and image.get("region")]
        figures = "".join(figure(image, image["id"] == group["keeper"], root, regions if image["id"] == group["keeper"] else ()) for image in group["images"])
        count = len(group["images"])
        sections.append(
            f'<section class="group" data-group="{number}"><h2>Group {number} <span>&middot; {count} images, '
            f"{count - 1} duplicate{'s' if count > 2 else ''}</span></h2>"
            f'<div class="images">{figures}</div></section>'
        )

    body = "".join(sections) if sections else '<div class="empty">No duplicates found.</div>'
    where = f" in <b>{html.escape(str(source))}</b>" if source else ""

    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f'<header><h1>{html.escape(title)}</h1><p class="summary" data-groups="{len(groups)}">'
        f"<b>{len(groups)}</b> group{'' if len(groups) == 1 else 's'}, <b>{duplicates}</b> duplicate{'' if duplicates == 1 else 's'}"
        f"{where} &middot; <b>{humanize(reclaimable)}</b> in duplicates &middot; the keeper of each group is marked "
        f'<span class="badge" style="background: var(--keep)">KEEP</span> &middot; generated {time.strftime("%Y-%m-%d %H:%M")} by txtai-imagehash</p>'
        f"</header><main>{body}</main></body></html>\n"
    )


def write(groups, path, title="Duplicate images", source=None):
    """
    Writes the HTML report of duplicate groups to a file.

    Args:
        groups: duplicate groups, see txtai_imagehash.dedup
        path: output file path
        title: page title
        source: optional description of what was searched

    Returns:
        absolute path of the report
    """

    content = render(groups, title, source)
    with open(path, "w", encoding="utf-8") as f:
        f.write(content)

    return os.path.abspath(path)
