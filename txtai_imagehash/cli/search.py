"""
Search command: search IMAGE --index PATH.
"""

import json
import os

from .errors import OK, UsageError
from .indexes import open_index
from .output import dimensions


def run(args):
    """
    Lists the indexed images nearest to an image.

    Args:
        args: parsed arguments

    Returns:
        exit code
    """

    embeddings, pipeline = open_index(args, create=False, write=False)

    # pylint: disable=C0415
    from ..images import ImageError
    from ..robust import haskeypoints
    from ..settings import read
    from ..sql import query

    try:
        value = pipeline(args.image)
        results = robust(args, embeddings) if haskeypoints(embeddings) or "trim" in read(embeddings.config) else None
    except ImageError as error:
        raise UsageError(f"cannot read IMAGE {error}") from None

    if results is None:
        sql = query(value, select="id, path, width, height, size", metric=args.metric, limit=args.limit, maxdistance=args.max_distance)
        results = [result(row, row[args.metric]) for row in embeddings.search(sql)]

    if args.json:
        print(json.dumps({"query": os.path.abspath(args.image), "hash": value, "metric": args.metric, "results": results}, indent=2))
        return OK

    inliers = results and "inliers" in results[0]
    if results:
        print(f"{args.metric[:8]:>8}  " + ("inliers  " if inliers else "") + f"{'size':>11}  path")
    else:
        print("No results" + (f" within distance {args.max_distance}" if args.max_distance is not None else ""))
    for row in results:
        print(f"{row['distance']:>8}  " + (f"{row['inliers']:>7}  " if inliers else "") + f"{dimensions(row):>11}  {row['path'] or row['id']}")

    return OK


def robust(args, embeddings):
    """
    Searches a robust index, or one with keypoints, with txtai_imagehash.search(): keypoint matches first, by inlier
    keypoints, then hash matches by Hamming distance (the default threshold of the index's algorithm unless
    --max-distance).

    Args:
        args: parsed arguments
        embeddings: Embeddings with a keypoint index

    Returns:
        list of results
    """

    # pylint: disable=C0415
    from ..robust import search

    args.metric = "hamming"
    rows = search(embeddings, args.image, limit=args.limit, maxdistance=args.max_distance)
    if not rows:
        return []

    # File metadata of the rows found; ids are bound as parameters
    parameters = {f"p{x}": str(row["id"]) for x, row in enumerate(rows)}
    sql = f"select id, path, width, height, size from txtai where id in ({', '.join(f':{name}' for name in parameters)})"
    files = {row["id"]: row for row in embeddings.search(sql, len(rows), parameters=parameters)}

    return [{**result(files.get(str(row["id"]), row), row["distance"]), **({"inliers": row["inliers"]} if "inliers" in row else {})} for row in rows]


def result(row, distance):
    """
    Formats a search result.

    Args:
        row: index row with id, path, width, height and size
        distance: distance to the query

    Returns:
        dict
    """

    return {"id": row["id"], "path": row.get("path"), "distance": distance, "width": row.get("width"), "height": row.get("height"), "bytes": row.get("size")}
