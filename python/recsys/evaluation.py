"""Evaluation: full-catalogue ranking metrics (HR, recall, NDCG, MRR, coverage @K).

Example::

    r = recsys.evaluate(model, test, ks=(10, 20))      # {'users': …, 'ndcg@10': …, …}
    recsys.metrics_frame(r)                             # DataFrame indexed by K
    recsys.evaluate_frame({"pop": pop, "knn": knn}, test, ks=(10,))   # one row per model
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Mapping, Sequence

import numpy as np

from recsys import _core

if TYPE_CHECKING:  # pragma: no cover
    from recsys.data import EvalSet
    from recsys.models import Model

METRICS = ("hr", "recall", "ndcg", "mrr", "coverage")


def evaluate(model: "Model", cases: "EvalSet", ks: Sequence[int] = (10,), *, filter_seen: bool = True,
             batch_size: int = 256, threads: int = 0) -> Dict[str, Any]:
    """Evaluates ``model`` on ``cases`` with full ranking (never sampled negatives).

    Returns a dict with ``users``, ``skipped``, ``hr@K``, ``recall@K``,
    ``ndcg@K``, ``mrr@K``, ``coverage@K`` for every K, ``unknown_input_items``,
    ``unknown_targets`` and ``seconds``. Cases built over another vocabulary
    are remapped to the model's. The GIL is released while it runs.
    """
    if isinstance(ks, int):
        ks = (ks,)
    return _core.evaluate(model._c, cases._c, [int(k) for k in ks], filter_seen, batch_size, threads)


def case_metrics(ranked: Sequence[int], targets: Sequence[int], k: int) -> Dict[str, float]:
    """HR / recall / NDCG / MRR @k of one ranked list (best first) against its targets."""
    return _core.case_metrics(np.asarray(ranked), np.asarray(targets), int(k))


def metrics_frame(result: Mapping[str, Any]) -> Any:
    """An :func:`evaluate` result as a DataFrame: index K, columns hr, recall, ndcg, mrr, coverage."""
    import pandas as pd

    ks = sorted({int(key.split("@")[1]) for key in result if "@" in key})
    rows = {k: {m: result.get(f"{m}@{k}", np.nan) for m in METRICS} for k in ks}
    df = pd.DataFrame.from_dict(rows, orient="index")
    df.index.name = "k"
    return df


def evaluate_frame(models: Mapping[str, "Model"], cases: "EvalSet", ks: Sequence[int] = (10,), **kw: Any) -> Any:
    """Evaluates several models → DataFrame with one row per model and columns ``metric@K``."""
    import pandas as pd

    rows = {name: evaluate(m, cases, ks, **kw) for name, m in models.items()}
    return pd.DataFrame.from_dict(rows, orient="index")
