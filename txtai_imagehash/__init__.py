"""
txtai-imagehash: near-duplicate image detection in txtai Embeddings indexes.
"""

from .algorithms import bits, fromhex, tohex
from .functions import distance, hamming
from .images import ImageError
from .index import config, documents
from .pipeline import ImageHash
from .query import query

__all__ = ["ImageHash", "ImageError", "bits", "config", "distance", "documents", "fromhex", "hamming", "query", "tohex"]
