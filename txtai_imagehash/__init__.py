"""
txtai-imagehash: near-duplicate image detection in txtai Embeddings indexes.

Importing the package costs nothing until a name is used (PEP 562): txtai, torch and faiss load with the first call
that needs them. The SQL functions `distance`, `hamming` and `closest` are plain Python and load at once.
"""

import importlib
import logging
import os

from .sql import closest, distance, hamming

# A library logs, the application decides where to: nothing is printed unless logging is configured (as txtai does)
logging.getLogger(__name__).addHandler(logging.NullHandler())

# YAML application shipped with the package: CONFIG=$(python -c "import txtai_imagehash; print(txtai_imagehash.APPLICATION)")
APPLICATION = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.yml")

# Public name -> module that defines it
EXPORTS = {
    "ImageHash": "pipeline",
    "ImageError": "images",
    "config": "index",
    "documents": "index",
    "hashes": "index",
    "vectorconfig": "index",
    "query": "sql",
    "build": "robust",
    "add": "robust",
    "remove": "robust",
    "search": "robust",
    "dedup": "duplicates",
    "tojson": "duplicates",
    "todistance": "vectors",
}

__all__ = ["ImageHash", "ImageError", "config", "documents", "query", "distance", "hamming", "closest"]
__all__ += ["build", "search", "add", "remove", "dedup", "tojson", "hashes", "vectorconfig", "todistance", "APPLICATION"]


def __getattr__(name):
    """
    Imports a public name, or a submodule such as txtai_imagehash.postgres, on first use.

    Args:
        name: attribute name

    Returns:
        attribute
    """

    if name in EXPORTS:
        value = getattr(importlib.import_module(f".{EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value

    try:
        return importlib.import_module(f".{name}", __name__)
    except ModuleNotFoundError as error:
        if error.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(__all__))
