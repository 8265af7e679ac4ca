"""Vector index of items (id, unit vector, filter metadata): FAISS search with filters and
persistence. It knows nothing of organisations; :mod:`matcher.indexing` keeps it in step with
the registry."""

from index.errors import DuplicateItem, IndexUnavailable, UnknownItem, VectorIndexError
from index.filters import ItemMeta, SearchFilters, SectorTree
from index.manifest import FORMAT_VERSION, Manifest
from index.backends import Backend, ExactBackend, HNSWBackend, HNSWParams
from index.vector_index import VectorIndex

__all__ = [
    "FORMAT_VERSION",
    "Backend",
    "DuplicateItem",
    "ExactBackend",
    "HNSWBackend",
    "HNSWParams",
    "IndexUnavailable",
    "ItemMeta",
    "Manifest",
    "SearchFilters",
    "SectorTree",
    "UnknownItem",
    "VectorIndex",
    "VectorIndexError",
]
