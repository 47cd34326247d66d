"""
Settings module: the hash settings of an index, read in one place. Each component takes its own keys from them:
ImageHash the PIPELINE keys, the robust path (build, add, search) also `trim` and `keypoints`.
"""

# Arguments of txtai_imagehash.ImageHash that change its hashes
PIPELINE = ("algorithm", "size", "exif", "normalize")

# Settings of an index that names none: those of txtai.pipeline.ImageHash, the recipe's
DEFAULTS = {"algorithm": "average", "size": 8, "exif": False, "normalize": False}


def read(config):
    """
    Reads the hash settings of an index: the `imagehash` key that build() and the command line write, else the
    settings of its HashVectors method (the `vectors` key), else the recipe's defaults.

    Args:
        config: Embeddings configuration dict, or None

    Returns:
        dict with algorithm, size, exif and normalize, plus trim and keypoints when the index has them
    """

    config = config or {}
    options = config.get("imagehash") or {}
    if not options:
        vectors = config.get("vectors") or {}
        options = {key: vectors[key] for key in PIPELINE if key in vectors}

    return {**DEFAULTS, **options}


def pipeline(values):
    """
    Selects the ImageHash arguments of hash settings.

    Args:
        values: hash settings, see read()

    Returns:
        dict of ImageHash keyword arguments
    """

    return {key: values[key] for key in PIPELINE if key in values}
