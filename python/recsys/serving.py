"""Serving: pipelines (model + ANN index + popularity + categories) and the
thread-safe ``Recommender`` facade (stage 1 → rank → filters → re-rank).

Example::

    model = recsys.fit("longshort", train, {"epochs": 2})
    pipe = recsys.Pipeline.build(model, index_factory="HNSW32", popularity=pop)
    pipe.save("shop.rsp")
    rec = recsys.Recommender(recsys.Pipeline.load("shop.rsp"))
    out = rec.recommend([1193, 661, 914], k=10, reranker="mmr", mmr_lambda=0.7)
    out["items"], out["scores"], out["sources"]
    rec.swap(recsys.Pipeline.load("shop_v2.rsp"))   # while other threads serve

Every request option of the C++ ``RecommendOptions`` is a keyword of
``recommend`` / ``recommend_batch``: ``k``, ``ann_candidates``,
``item_to_item_candidates``, ``popularity_candidates``, ``ann_merge``
(``"union_quota"``, ``"max_score"``, ``"round_robin"``), ``ann_fetch_factor``,
``ef_search``, ``nprobe``, ``ann_scored_results``, ``ann_walk_group``, ``filter_seen``, ``exclude``, ``allow``, ``reranker``
(``"none"``, ``"mmr"``, ``"quotas"``), ``mmr_lambda``, ``mmr_pool``, ``quotas``
(``{category: share}``) and ``latency_budget_ms``.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from recsys import _core
from recsys.data import EvalSet, PathLike
from recsys.models import Model


class Pipeline:
    """One servable model version (C++ ``recsys::Pipeline``); immutable."""

    def __init__(self, core: "_core.Pipeline") -> None:
        self._c = core

    @classmethod
    def build(cls, model: Model, *, index_factory: str = "HNSW32", ef_construction: int = 0,
              ef_search: int = 128, popularity: Optional[np.ndarray] = None,
              categories: Optional[np.ndarray] = None, name: str = "", threads: int = 0,
              nprobe: int = 0, locality_order: bool = False) -> "Pipeline":
        """Builds the ANN index over a longshort model's item embeddings.

        ``index_factory`` is a FAISS factory string: "HNSW32" (our graph walk,
        ``ef_search`` the default beam), "IVF1024,Flat" (our grouped list
        scan, ``nprobe`` the default lists per query), "Flat" (exact), ….

        ``popularity`` (float, one per item in the model's vocabulary order) adds
        the popularity generator; ``categories`` (int, one per item) enables
        quota re-ranking. Other model types get no index: their own top items
        are the candidates. ``locality_order`` (HNSW) stores the graph in
        breadth-first order of its base layer (same answers; measured at 10^6
        items without a latency gain, hence off by default).
        """
        core_model = model._c if isinstance(model, Model) else model
        return cls(_core.Pipeline.build(core_model, index_factory, ef_construction, ef_search, popularity,
                                        categories, name, threads, nprobe, locality_order))

    @classmethod
    def load(cls, path: PathLike) -> "Pipeline":
        """Reads a pipeline file (.rsp); corrupted files raise OSError, nothing is half-loaded."""
        return cls(_core.Pipeline.load(os.fspath(path)))

    def save(self, path: PathLike) -> None:
        self._c.save(os.fspath(path))

    name = property(lambda self: self._c.name)
    model = property(lambda self: Model(self._c.model), doc="The ranking model.")
    has_index = property(lambda self: self._c.has_index)
    index_factory = property(lambda self: self._c.index_factory)
    index_locality_ordered = property(lambda self: self._c.index_locality_ordered)
    num_items = property(lambda self: self._c.num_items)

    def __repr__(self) -> str:
        index = self.index_factory or "no index"
        return f"Pipeline({self.name!r}, {self.model.type}, {self.num_items} items, {index})"


class Recommender:
    """Thread-safe serving facade; requests release the GIL.

    ``recommend`` returns a dict: ``items`` (int64 external ids, best first),
    ``scores`` (float32), ``sources`` (per item, a list of
    ``{"generator", "query", "rank", "score"}``), ``num_candidates``,
    ``unknown_history_items``, ``skipped_stages``, ``elapsed_ms``,
    ``pipeline`` and, with quotas, ``quota_report``.
    """

    def __init__(self, pipeline: Pipeline | PathLike, *, max_k: int = 10000,
                 max_candidates_per_generator: int = 100000) -> None:
        if not isinstance(pipeline, Pipeline):
            pipeline = Pipeline.load(pipeline)
        self._c = _core.Recommender(pipeline._c, max_k, max_candidates_per_generator)

    def recommend(self, history: Optional[Sequence[int]] = None, *, timestamps: Optional[Sequence[int]] = None,
                  user_id: Optional[int] = None, **options: Any) -> Dict[str, Any]:
        """One request: external-id history (oldest first) or a known dense ``user_id``."""
        h = None if history is None else np.asarray(history)
        t = None if timestamps is None else np.asarray(timestamps)
        return self._c.recommend(h, t, user_id, **options)

    def recommend_batch(self, histories: Sequence[Sequence[int]], *, threads: int = 0,
                        **options: Any) -> List[Dict[str, Any]]:
        """Many histories with the same options, served in parallel in C++."""
        return self._c.recommend_batch([np.asarray(h) for h in histories], threads, **options)

    def evaluate(self, cases: EvalSet, ks: Sequence[int] = (10,), *, candidates: int = 200, ef_search: int = 0,
                 fetch_factor: float = 2.0, filter_seen: bool = True, threads: int = 0,
                 nprobe: int = 0, scored_results: bool = False) -> Dict[str, Any]:
        """Two-stage evaluation: each case's history goes through stage 1 (the ANN
        generator alone, ``candidates`` items) and the model ranks only those.

        Returns the keys of :func:`recsys.evaluate` for the final ranking plus
        ``candidates``, ``stage1_recall@N``, ``stage1_hr@N`` and
        ``mean_candidates``; compare with ``model.evaluate`` (full catalogue).
        """
        return self._c.evaluate(cases._c, list(ks), candidates, ef_search, fetch_factor, filter_seen, threads,
                                nprobe, scored_results)

    def swap(self, pipeline: Pipeline | PathLike) -> None:
        """Atomically serves ``pipeline``; on error the current one stays."""
        if not isinstance(pipeline, Pipeline):
            pipeline = Pipeline.load(pipeline)
        self._c.swap(pipeline._c)

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline served now."""
        return Pipeline(self._c.pipeline)

    def __repr__(self) -> str:
        return f"Recommender({self.pipeline!r})"
