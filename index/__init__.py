"""Vector index of organisation profiles: FAISS search with filters, persistence, sync."""

from index.filters import ItemMeta, SearchFilters
from index.manifest import FORMAT_VERSION, Manifest
from index.sync import RegistrySync, encode_texts, ensure_index, remove_profile, upsert_profile
from index.vector_index import HNSWParams, VectorIndex

__all__ = [
    "FORMAT_VERSION",
    "HNSWParams",
    "ItemMeta",
    "Manifest",
    "RegistrySync",
    "SearchFilters",
    "VectorIndex",
    "encode_texts",
    "ensure_index",
    "remove_profile",
    "upsert_profile",
]
