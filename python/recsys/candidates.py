"""Stage-1 candidate generation: an inner-product ANN index (FAISS factory strings).

Example::

    index = recsys.AnnIndex("HNSW32", dim=64)
    index.add(item_vectors)                  # n × 64 float32, C-contiguous (read in place)
    ids, scores = index.search(queries, k=100, ef_search=128)
"""
from __future__ import annotations

import os
from typing import Any, Tuple

import numpy as np

from recsys import _core
from recsys.data import PathLike


class AnnIndex:
    """ANN index over item embeddings; ids are insertion order 0..size-1.

    Thread safety: ``search`` may run concurrently (it releases the GIL);
    ``add`` must not overlap other calls.
    """

    def __init__(self, factory: str = "Flat", dim: int = 0, *, hnsw_ef_construction: int = 0,
                 default_ef_search: int = 0, default_nprobe: int = 0, locality_order: bool = False,
                 _core_index: Any = None) -> None:
        if _core_index is not None:
            self._c = _core_index
        else:
            self._c = _core.AnnIndex.create(factory, dim, hnsw_ef_construction, default_ef_search, default_nprobe,
                                            locality_order)

    @classmethod
    def load(cls, path: PathLike) -> "AnnIndex":
        return cls(_core_index=_core.AnnIndex.load(os.fspath(path)))

    def save(self, path: PathLike) -> None:
        self._c.save(os.fspath(path))

    dim = property(lambda self: self._c.dim)
    factory = property(lambda self: self._c.factory)
    is_exact = property(lambda self: self._c.is_exact)
    locality_ordered = property(lambda self: self._c.locality_ordered,
                                doc="HNSW stored in breadth-first order of its base layer (ids unchanged).")

    def __len__(self) -> int:
        return self._c.size

    def __repr__(self) -> str:
        return f"AnnIndex({self.factory!r}, dim={self.dim}, size={len(self)})"

    def add(self, items: np.ndarray) -> None:
        """Adds n × dim float32 C-contiguous vectors (TypeError/ValueError otherwise)."""
        self._c.add(items)

    def search(self, queries: np.ndarray, k: int = 10, *, ef_search: int = 0, nprobe: int = 0,
               threads: int = 0, scored_results: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Top-k ids (int32) and inner-product scores (float32), each n × k; padding id -1.

        ``scored_results`` (HNSW): keep the beam at ``ef_search`` and return the
        best k of every node the walk scored, instead of widening the beam to k.
        """
        return self._c.search(queries, k, ef_search, nprobe, threads, scored_results)
