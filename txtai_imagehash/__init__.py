"""
txtai-imagehash: near-duplicate image detection in txtai Embeddings indexes.
"""

from .algorithms import bits, fromhex, tohex
from .functions import distance, hamming
from .images import ImageError
from .index import config, documents
from .pipeline import ImageHash
from .query import query
from .search import build, search
from .dedup import dedup, tojson
from .hashing import hashes
from .vectors import HashVectors, todistance, vectorconfig
from .workflow import APPLICATION, ImageDocuments, IndexTask
from . import postgres
from .folder import Folder

__all__ = ["ImageHash", "ImageError", "bits", "config", "distance", "documents", "fromhex", "hamming", "query", "tohex"]
__all__ += ["HashVectors", "dedup", "hashes", "todistance", "tojson", "vectorconfig"]
__all__ += ["build", "search"]
__all__ += ["APPLICATION", "ImageDocuments", "IndexTask"]
__all__ += ["postgres"]
__all__ += ["Folder"]
