"""Plot helpers (matplotlib, Agg backend) that write PNG files.

Example::

    from recsys import plot
    plot.training_curves(model.history, "loss.png")                  # loss / valid metric per epoch
    plot.metric_vs_k({"sasrec": r1, "pop": r2}, "ndcg.png", metric="ndcg")
    plot.tradeoff([{"label": "HNSW ef=64", "recall": 0.93, "qps": 9000}, ...], "ann.png")
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from recsys.data import PathLike


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: PathLike) -> str:
    path = os.fspath(path)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


Histories = Union[Sequence[Mapping[str, Any]], Mapping[str, Sequence[Mapping[str, Any]]]]


def training_curves(history: Histories, path: PathLike, *, x: str = "step") -> str:
    """Loss (left) and validation metric (right) of training progress records.

    ``history``: a model's ``history`` (list of progress dicts) or a dict
    name → history for several runs. Returns the PNG path.
    """
    plt = _pyplot()
    runs = history if isinstance(history, Mapping) else {"model": history}
    fig, (ax_loss, ax_valid) = plt.subplots(1, 2, figsize=(10, 4))
    for name, recs in runs.items():
        recs = list(recs)
        xs = [r.get(x, i) for i, r in enumerate(recs)]
        ax_loss.plot(xs, [r.get("loss", float("nan")) for r in recs], marker=".", label=name)
        valid = [(xv, r["valid_metric"]) for xv, r in zip(xs, recs) if r.get("valid_metric_name")]
        if valid:
            metric = next(r["valid_metric_name"] for r in recs if r.get("valid_metric_name"))
            ax_valid.plot([v[0] for v in valid], [v[1] for v in valid], marker="o", label=f"{name} {metric}")
    ax_loss.set_xlabel(x)
    ax_loss.set_ylabel("training loss")
    ax_valid.set_xlabel(x)
    ax_valid.set_ylabel("validation metric")
    for ax in (ax_loss, ax_valid):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return _save(fig, path)


def metric_vs_k(results: Mapping[str, Mapping[str, Any]], path: PathLike, *,
                metrics: Sequence[str] = ("hr", "ndcg")) -> str:
    """Metric@K curves for several :func:`recsys.evaluate` results (name → result dict)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for name, r in results.items():
            ks = sorted(int(key.split("@")[1]) for key in r if key.startswith(metric + "@"))
            if ks:
                ax.plot(ks, [r[f"{metric}@{k}"] for k in ks], marker="o", label=name)
        ax.set_xlabel("K")
        ax.set_ylabel(f"{metric}@K")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return _save(fig, path)


def tradeoff(points: Sequence[Mapping[str, Any]], path: PathLike, *, x: str = "recall", y: str = "qps",
             group: Optional[str] = "index", log_y: bool = True) -> str:
    """Speed/recall trade-off: one marker per point (dict with ``x``, ``y``, optional ``label``),
    points with the same ``group`` value joined by a line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    groups: Dict[Any, List[Mapping[str, Any]]] = {}
    for p in points:
        groups.setdefault(p.get(group) if group else None, []).append(p)
    for g, pts in groups.items():
        pts = sorted(pts, key=lambda p: p[x])
        ax.plot([p[x] for p in pts], [p[y] for p in pts], marker="o", label=None if g is None else str(g))
        for p in pts:
            if "label" in p:
                ax.annotate(str(p["label"]), (p[x], p[y]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return _save(fig, path)
