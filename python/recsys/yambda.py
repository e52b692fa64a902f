"""Yambda loader: the flat parquet layout read with pyarrow into the engine.

Yambda (Yandex Music) flat files hold one event per row with the columns
``uid``, ``item_id``, ``timestamp`` (in 5-second units), ``is_organic``,
``event_type`` (listen / like / dislike / unlike / undislike),
``played_ratio_pct`` and ``track_length_seconds`` (the last two only for
listens). ``listens.parquet``-style files without ``event_type`` are all
listens.

The benchmark's conventions are the defaults: the Listen+ rule keeps a listen
only when ``played_ratio_pct >= 50``; the global temporal split puts the last
day in the test window, with a 30-minute gap before it.

Example::

    from recsys import yambda
    ds = yambda.load("flat/50m/multi_event.parquet")         # Listen+ events
    train, test, stats = yambda.split(ds)                    # last day → test
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from recsys.data import Dataset, EvalSet, PathLike, temporal_split

#: Event type names → the engine's EventKind codes.
EVENT_CODES: Dict[str, int] = {"listen": 1, "like": 2, "dislike": 3, "unlike": 4, "undislike": 5}
#: Seconds per Yambda timestamp unit.
TIME_UNIT_S = 5


def read_events(
    path: PathLike,
    *,
    event_types: Optional[Sequence[str]] = ("listen",),
    listen_plus: bool = True,
    min_played_ratio_pct: float = 50.0,
) -> Dict[str, np.ndarray]:
    """Reads a flat Yambda parquet file into numpy columns after filtering.

    ``event_types``: the types to keep (None = all). ``listen_plus``: drop
    listens with ``played_ratio_pct < min_played_ratio_pct`` (missing ratios
    count as 0). Returns ``users, items, timestamps, types, weights, organic``
    (weights = played ratio / 100 for listens, 1 otherwise).
    """
    import pyarrow.parquet as pq

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(2, f"path: no such file: '{path}'", path)
    schema = pq.read_schema(path)
    names = set(schema.names)
    for required in ("uid", "item_id", "timestamp"):
        if required not in names:
            raise ValueError(f"{path}: column '{required}' missing (columns: {sorted(names)})")
    wanted = [c for c in ("uid", "item_id", "timestamp", "is_organic", "event_type", "played_ratio_pct") if c in names]
    table = pq.read_table(path, columns=wanted)
    n = table.num_rows

    if "event_type" in names:
        et = table.column("event_type").to_pandas().astype(str).to_numpy()
        types = np.zeros(n, dtype=np.int64)
        for name, code in EVENT_CODES.items():
            types[et == name] = code
        unknown = types == 0
        if unknown.any():
            bad = sorted(set(et[unknown].tolist()))[:5]
            raise ValueError(f"{path}: unknown event_type values {bad}")
    else:
        types = np.full(n, EVENT_CODES["listen"], dtype=np.int64)

    if "played_ratio_pct" in names:
        ratio = table.column("played_ratio_pct").to_numpy(zero_copy_only=False)
        ratio = np.nan_to_num(np.asarray(ratio, dtype=np.float64), nan=0.0)
    else:
        ratio = np.full(n, 100.0)

    keep = np.ones(n, dtype=bool)
    if event_types is not None:
        codes = []
        for t in event_types:
            if t not in EVENT_CODES:
                raise ValueError(f"event_types: unknown type '{t}' (known: {sorted(EVENT_CODES)})")
            codes.append(EVENT_CODES[t])
        keep &= np.isin(types, codes)
    is_listen = types == EVENT_CODES["listen"]
    if listen_plus:
        keep &= ~is_listen | (ratio >= min_played_ratio_pct)

    col = lambda c: table.column(c).to_numpy(zero_copy_only=False)  # noqa: E731
    organic = col("is_organic").astype(np.uint8) if "is_organic" in names else np.ones(n, np.uint8)
    weights = np.where(is_listen, ratio / 100.0, 1.0).astype(np.float32)
    return {
        "users": col("uid")[keep],
        "items": col("item_id")[keep],
        "timestamps": col("timestamp").astype(np.int64)[keep],
        "types": types[keep],
        "weights": weights[keep],
        "organic": organic[keep],
    }


def load(path: PathLike, **kw: Any) -> Dataset:
    """Reads a flat Yambda parquet file into a :class:`Dataset` (see :func:`read_events` for options)."""
    c = read_events(path, **kw)
    return Dataset.from_arrays(c["users"], c["items"], c["timestamps"], types=c["types"], weights=c["weights"],
                               organic=c["organic"])


def split(
    dataset: Dataset,
    *,
    test_days: float = 1.0,
    gap_minutes: float = 30.0,
    time_unit_s: float = TIME_UNIT_S,
    test_start: Optional[int] = None,
    **kw: bool,
) -> Tuple[Dataset, EvalSet, dict]:
    """Yambda's global temporal split → ``(train, test, stats)``.

    The test window is the last ``test_days`` of the data (or starts at
    ``test_start``, in timestamp units); train holds events before
    ``test_start − gap``. Durations are converted with ``time_unit_s``
    seconds per timestamp unit. Extra keywords go to :func:`recsys.temporal_split`.
    """
    window = max(1, int(round(test_days * 86400 / time_unit_s)))
    gap = int(round(gap_minutes * 60 / time_unit_s))
    if test_start is None:
        ts = dataset.timestamps
        if len(ts) == 0:
            raise ValueError("dataset: no events to split")
        test_start = int(np.max(ts)) + 1 - window
    stats_extra = {"test_start": int(test_start), "gap": gap, "test_window": window}
    train, test, stats = temporal_split(dataset, int(test_start), gap, window, **kw)
    stats.update(stats_extra)
    return train, test, stats
