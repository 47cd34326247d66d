"""
Output module: the command line's tables and messages.
"""

import sys


def say(args, message):
    """
    Prints a progress or summary message to standard error, unless --quiet.

    Args:
        args: parsed arguments
        message: message
    """

    if not getattr(args, "quiet", False):
        print(message, file=sys.stderr)


def progress(args):
    """
    Shows a progress bar on a terminal, unless --quiet.

    Args:
        args: parsed arguments

    Returns:
        True to show a progress bar
    """

    return not getattr(args, "quiet", False) and sys.stderr.isatty()


def dimensions(image):
    """
    Formats the size of an image.

    Args:
        image: image dict with width and height

    Returns:
        "WxH", or "?" when unknown
    """

    return f"{image['width']}x{image['height']}" if image.get("width") and image.get("height") else "?"


def humanize(count):
    """
    Formats a byte count for people.

    Args:
        count: number of bytes or None

    Returns:
        string like "1.2 MB"
    """

    if count is None:
        return "size unknown"

    value = float(count)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024

    return f"{value:.1f} TB"


def table(groups):
    """
    Prints duplicate groups as a table, the keeper of each group marked KEEP.

    Args:
        groups: duplicate groups, see txtai_imagehash.dedup
    """

    for number, group in enumerate(groups, start=1):
        print(f"Group {number} ({len(group['images'])} images)")
        for image in group["images"]:
            label = "KEEP" if image["id"] == group["keeper"] else image.get("match", "dup")
            details = evidence(image)
            details = f"  ({', '.join(details)})" if details else ""
            print(f"  {label:<9} {dimensions(image):>11} {humanize(image.get('bytes')):>11}  {image.get('path') or image['id']}{details}")
            for alias in image.get("aliases", []):
                print(f"  {'':<9} {'':>11} {'':>11}  {alias}  (another name of this file)")

    duplicates = sum(len(group["images"]) - 1 for group in groups)
    print(
        f"{len(groups)} duplicate group{'' if len(groups) == 1 else 's'}, {duplicates} duplicate{'' if duplicates == 1 else 's'}"
        if groups
        else "No duplicates found"
    )


# Words for the match kinds of txtai_imagehash.dedup
MATCHES = {
    "identical": "identical file",
    "same": "same picture",
    "flipped": "flipped or rotated",
    "border": "border or caption",
    "crop": "crop",
    "edited": "edited",
}


def evidence(image):
    """
    The evidence that makes a group member a duplicate of its keeper, in a few words.

    Args:
        image: image dict of a group

    Returns:
        list of strings, empty for a keeper that is not a reference
    """

    parts = []
    if image.get("match") == "crop" and image.get("share") is not None:
        parts.append(f"{round(100 * image['share'])}% of the keeper")
    if image.get("match") not in (None, "keeper") and image.get("distance") is not None:
        parts.append(f"{image['distance']} bit{'' if image['distance'] == 1 else 's'} apart")
    if image.get("inliers"):
        parts.append(f"{image['inliers']} keypoints")
    if image.get("reference"):
        parts.append("reference: kept")

    return parts


def reason(image):
    """
    Says why a group member is a duplicate of its keeper: the match kind and its evidence.

    Args:
        image: image dict of a group

    Returns:
        string
    """

    return " \u00b7 ".join([MATCHES.get(image.get("match"), "duplicate")] + evidence(image))


def errors(failures):
    """
    Lists the files that could not be read, also with --quiet.

    Args:
        failures: list of ImageError
    """

    if failures:
        print(f"Could not read {len(failures)} file{'s' if len(failures) > 1 else ''}:", file=sys.stderr)
        for error in failures:
            print(f"  {error.source}: {error.reason}", file=sys.stderr)
