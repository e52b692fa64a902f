"""Datasets, evaluation sets and splits.

A :class:`Dataset` holds per-user chronological histories in CSR form
(``offsets``, ``items``, ``timestamps`` …) built by the C++ engine. Columns are
exposed as read-only numpy views of the C++ memory (no copies); external ids
(any int64 labels) are mapped to dense indices by the item/user vocabularies.

Example::

    import numpy as np, recsys
    ds = recsys.Dataset.from_arrays(users=np.array([1, 1, 2]), items=np.array([10, 11, 10]),
                                    timestamps=np.array([5, 6, 7]))
    train, valid, test, skipped = ds.loo_split()
"""
from __future__ import annotations

import os
import tempfile
from typing import Any, Iterable, Optional, Sequence, Tuple, Union

import numpy as np

from recsys import _core

PathLike = Union[str, "os.PathLike[str]"]
Histories = Union[Sequence[Sequence[int]], np.ndarray, Tuple[np.ndarray, np.ndarray]]


def to_csr(histories: Any) -> Tuple[np.ndarray, np.ndarray, bool]:
    """Normalises histories to CSR ``(offsets, items, single)``.

    Accepts one history (a 1-D sequence of ids), a batch (a sequence of
    sequences or a 2-D array) or an explicit ``(offsets, items)`` tuple of
    numpy arrays. ``single`` is True for one history.
    """
    if isinstance(histories, tuple) and len(histories) == 2 and all(
        isinstance(a, np.ndarray) for a in histories
    ):
        return histories[0], histories[1], False
    if isinstance(histories, np.ndarray):
        if histories.ndim == 1:
            return np.array([0, len(histories)], dtype=np.int64), histories, True
        if histories.ndim == 2:
            n, m = histories.shape
            return np.arange(0, (n + 1) * m, m, dtype=np.int64), histories.reshape(-1), False
        raise ValueError(f"histories: expected a 1-D or 2-D array, got ndim={histories.ndim}")
    if not isinstance(histories, Iterable) or isinstance(histories, (str, bytes)):
        raise TypeError(f"histories: expected a sequence of item ids or of histories, got {type(histories).__name__}")
    seq = list(histories)
    if len(seq) == 0 or all(np.ndim(h) == 0 for h in seq):
        arr = np.asarray(seq, dtype=np.int64) if seq else np.zeros(0, dtype=np.int64)
        return np.array([0, len(arr)], dtype=np.int64), arr, True
    parts = [np.asarray(h).reshape(-1) for h in seq]
    for i, p in enumerate(parts):
        if p.size and p.dtype.kind not in "iu":
            raise TypeError(f"histories[{i}]: expected integer item ids, got dtype {p.dtype}")
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([p.size for p in parts], out=offsets[1:])
    items = np.concatenate(parts).astype(np.int64, copy=False) if parts else np.zeros(0, np.int64)
    return offsets, items, False


class Vocabulary:
    """External ids ↔ dense indices (read-only view owned by a dataset or model)."""

    def __init__(self, core: "_core.Vocabulary") -> None:
        self._c = core

    def __len__(self) -> int:
        return len(self._c)

    @property
    def ids(self) -> np.ndarray:
        """External id of every dense index (int64, zero-copy, read-only)."""
        return self._c.ids

    def lookup(self, ids: Any) -> np.ndarray:
        """Dense indices (int32) of external ids; -1 for unknown ids."""
        return self._c.lookup(np.asarray(ids))


class EvalSet:
    """Evaluation cases: input histories and targets, in dense indices of :attr:`vocab`."""

    def __init__(self, core: "_core.EvalSet") -> None:
        self._c = core

    @classmethod
    def from_histories(cls, histories: Histories, targets: Optional[Sequence[int]], vocab: Vocabulary) -> "EvalSet":
        """Cases from external-id histories and one target per history (unknown ids dropped/counted)."""
        offsets, items, single = to_csr(histories)
        if single:
            offsets = np.array([0, len(items)], dtype=np.int64)
        t = None if targets is None else np.asarray(targets)
        return cls(_core.EvalSet.from_csr(offsets, items, t, vocab._c))

    def __len__(self) -> int:
        return len(self._c)

    def __repr__(self) -> str:
        return f"EvalSet(cases={len(self)}, targets={len(self.targets)})"

    vocab = property(lambda self: Vocabulary(self._c.vocab), doc="Vocabulary of the dense indices.")
    users = property(lambda self: self._c.users, doc="Dense user index per case (-1 unknown).")
    input_offsets = property(lambda self: self._c.input_offsets, doc="cases + 1 offsets into input_items.")
    input_items = property(lambda self: self._c.input_items, doc="Concatenated input histories (dense).")
    target_offsets = property(lambda self: self._c.target_offsets, doc="cases + 1 offsets into targets.")
    targets = property(lambda self: self._c.targets, doc="Concatenated targets (dense; -1 unknown).")
    unknown_input_items = property(lambda self: self._c.unknown_input_items)
    unknown_targets = property(lambda self: self._c.unknown_targets)


class Dataset:
    """Per-user chronological event histories (the engine's ``SequenceDataset``).

    Build one with :meth:`from_arrays`, :meth:`from_pandas`, :meth:`from_file`
    or :func:`synthetic`. Column properties are zero-copy read-only views.
    Thread safety: immutable; safe to share between threads.
    """

    def __init__(self, core: "_core.Dataset") -> None:
        self._c = core

    # ---- constructors -------------------------------------------------------------------------
    @classmethod
    def from_arrays(
        cls,
        users: Any,
        items: Any,
        timestamps: Any = None,
        *,
        types: Any = None,
        weights: Any = None,
        organic: Any = None,
        drop_duplicates: bool = False,
    ) -> "Dataset":
        """Builds a dataset from event columns (ids of any integer dtype).

        ``timestamps`` defaults to the row index; ``types`` are small ints
        (0 interaction, 1 listen, 2 like, 3 dislike, …); ``weights`` float
        (e.g. played ratio); ``organic`` bool/0-1. Events are sorted stably by
        timestamp per user.
        """
        return cls(
            _core.Dataset.from_arrays(
                np.asarray(users),
                np.asarray(items),
                None if timestamps is None else np.asarray(timestamps),
                None if types is None else np.asarray(types),
                None if weights is None else np.asarray(weights),
                None if organic is None else np.asarray(organic),
                drop_duplicates,
            )
        )

    @classmethod
    def from_pandas(
        cls,
        df: Any,
        user: str = "user",
        item: str = "item",
        timestamp: Optional[str] = "timestamp",
        *,
        type: Optional[str] = None,
        weight: Optional[str] = None,
        organic: Optional[str] = None,
        drop_duplicates: bool = False,
    ) -> "Dataset":
        """Builds a dataset from a pandas DataFrame with the named columns.

        Datetime timestamp columns are converted to integer seconds.
        """
        for col in (user, item, timestamp, type, weight, organic):
            if col is not None and col not in df.columns:
                raise KeyError(f"column '{col}' not in DataFrame (columns: {list(df.columns)})")
        ts = None
        if timestamp is not None:
            s = df[timestamp]
            if np.issubdtype(s.dtype, np.datetime64):
                ts = s.to_numpy().astype("datetime64[s]").astype(np.int64)
            else:
                ts = s.to_numpy()
        col = lambda c: None if c is None else df[c].to_numpy()  # noqa: E731
        return cls.from_arrays(
            df[user].to_numpy(), df[item].to_numpy(), ts, types=col(type), weights=col(weight),
            organic=col(organic), drop_duplicates=drop_duplicates,
        )

    @classmethod
    def from_file(cls, path: PathLike, format: str = "auto", *, drop_duplicates: bool = False, **csv: Any) -> "Dataset":
        """Reads ``seq``, ``seq-user``, ``csv``/``tsv`` or a binary ``snapshot`` (memory-mapped).

        ``csv`` keyword options: delimiter, user_column, item_column,
        timestamp_column, type_column, weight_column, organic_column,
        require_timestamp.
        """
        return cls(_core.Dataset.from_file(os.fspath(path), format, csv, drop_duplicates))

    # ---- properties ---------------------------------------------------------------------------
    num_users = property(lambda self: self._c.num_users, doc="Users U.")
    num_items = property(lambda self: self._c.num_items, doc="Items in the vocabulary I.")
    num_events = property(lambda self: self._c.num_events, doc="Events.")
    offsets = property(lambda self: self._c.offsets, doc="U + 1 int64 CSR offsets (zero-copy).")
    items = property(lambda self: self._c.items, doc="Dense item index per event, int32 (zero-copy).")
    timestamps = property(lambda self: self._c.timestamps, doc="int64 per event (zero-copy).")
    types = property(lambda self: self._c.types, doc="Event type per event (zero-copy).")
    weights = property(lambda self: self._c.weights, doc="float32 per event (zero-copy).")
    organic = property(lambda self: self._c.organic, doc="uint8 per event (zero-copy).")
    item_vocab = property(lambda self: Vocabulary(self._c.item_vocab))
    user_vocab = property(lambda self: Vocabulary(self._c.user_vocab))
    item_ids = property(lambda self: self._c.item_vocab.ids, doc="External id per dense item index.")
    user_ids = property(lambda self: self._c.user_vocab.ids, doc="External id per dense user index.")

    def __len__(self) -> int:
        return self.num_users

    def __repr__(self) -> str:
        return f"Dataset(users={self.num_users}, items={self.num_items}, events={self.num_events})"

    def history(self, user: int) -> np.ndarray:
        """External item ids of dense user ``user``, oldest first."""
        if not 0 <= user < self.num_users:
            raise IndexError(f"user: {user} out of range [0, {self.num_users})")
        o = self.offsets
        return self.item_ids[self.items[o[user]:o[user + 1]]]

    def histories(self) -> list:
        """External-id history of every user (a list of arrays)."""
        ids = self.item_ids[self.items]
        return np.split(ids, self.offsets[1:-1])

    def item_counts(self) -> np.ndarray:
        """Events per dense item (int64)."""
        return self._c.item_counts()

    def to_pandas(self) -> Any:
        """Events as a DataFrame with external ids (user, item, timestamp, type, weight, organic)."""
        import pandas as pd

        counts = np.diff(self.offsets)
        data = {
            "user": np.repeat(self.user_ids, counts),
            "item": self.item_ids[self.items],
            "timestamp": np.asarray(self.timestamps),
        }
        if len(self.types) == self.num_events:
            data["type"] = np.asarray(self.types)
        if len(self.weights) == self.num_events:
            data["weight"] = np.asarray(self.weights)
        if len(self.organic) == self.num_events:
            data["organic"] = np.asarray(self.organic)
        return pd.DataFrame(data)

    def save_snapshot(self, path: PathLike) -> None:
        """Writes a binary snapshot (loads back by memory-mapping via :meth:`from_file`)."""
        self._c.save_snapshot(os.fspath(path))

    def save_temporal_train_snapshot(self, path: PathLike, test_start: int, gap: int = 0,
                                     test_window: int = 86400) -> dict:
        """Writes only the train part of :func:`temporal_split` (t < test_start − gap) as a snapshot.

        The events stream from this dataset (typically a memory-mapped snapshot)
        to the file without a copy in memory; ``Dataset.from_file(path)`` maps
        it back for training. Needs each user's events in time order (always
        true for datasets built by this library). Returns counts:
        train_events, gap_events, test_window_events, after_window_events,
        users_with_train_events.
        """
        return dict(self._c.save_temporal_train_snapshot(os.fspath(path), int(test_start), int(gap),
                                                         int(test_window)))

    # ---- splits -------------------------------------------------------------------------------
    def loo_split(self) -> Tuple["Dataset", EvalSet, EvalSet, int]:
        """Leave-one-out split → ``(train, valid, test, skipped_users)``."""
        return loo_split(self)

    def temporal_split(self, test_start: int, gap: int = 0, test_window: int = 86400, **kw: bool
                       ) -> Tuple["Dataset", EvalSet, dict]:
        """Global temporal split → ``(train, test, stats)``; see :func:`temporal_split`."""
        return temporal_split(self, test_start, gap, test_window, **kw)

    def temporal_test_cases(self, test_start: int, gap: int = 0, test_window: int = 86400, max_cases: int = 0,
                            **kw: bool) -> Tuple[EvalSet, dict]:
        """The test cases of the temporal split without its train part; see :func:`temporal_test_cases`."""
        return temporal_test_cases(self, test_start, gap, test_window, max_cases, **kw)

    # ---- pickling (via a snapshot) ------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialises the dataset (binary snapshot bytes)."""
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "ds.snap")
            self.save_snapshot(p)
            with open(p, "rb") as f:
                return f.read()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Dataset":
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "ds.snap")
            with open(p, "wb") as f:
                f.write(data)
            return cls.from_file(p, "snapshot")

    def __reduce__(self):
        return (Dataset.from_bytes, (self.to_bytes(),))


def synthetic(threads: int = 0, **config: Any) -> Tuple[Dataset, dict]:
    """Synthetic data with planted interests → ``(dataset, truth)``.

    ``config`` fields are those of the C++ ``SyntheticConfig`` (num_users,
    num_items, num_clusters, mean_events_per_user, seed, …). ``truth`` holds
    numpy arrays: item_cluster, item_rank, interest_offsets, interests,
    interest_weights. External ids: users 0..U-1, items 0..I-1.
    """
    core, truth = _core.synthetic(config, threads)
    return Dataset(core), truth


def loo_split(dataset: Dataset) -> Tuple[Dataset, EvalSet, EvalSet, int]:
    """Leave-one-out: train = all but the last 2 events; valid → 2nd-to-last; test → last."""
    train, valid, test, skipped = _core.loo_split(dataset._c)
    return Dataset(train), EvalSet(valid), EvalSet(test), skipped


def temporal_split(
    dataset: Dataset,
    test_start: int,
    gap: int = 0,
    test_window: int = 86400,
    *,
    drop_cold_targets: bool = True,
    drop_cold_users: bool = True,
    unique_targets: bool = True,
) -> Tuple[Dataset, EvalSet, dict]:
    """Global temporal split (Yambda): train t < test_start − gap; targets in [test_start, +window)."""
    train, test, stats = _core.temporal_split(
        dataset._c, int(test_start), int(gap), int(test_window), drop_cold_targets, drop_cold_users, unique_targets
    )
    return Dataset(train), EvalSet(test), stats


def temporal_test_cases(
    dataset: Dataset,
    test_start: int,
    gap: int = 0,
    test_window: int = 86400,
    max_cases: int = 0,
    *,
    drop_cold_targets: bool = True,
    drop_cold_users: bool = True,
    unique_targets: bool = True,
) -> Tuple[EvalSet, dict]:
    """The test cases of :func:`temporal_split` without building its train part → ``(test, stats)``.

    Streams over the events (a memory-mapped snapshot stays on disk); with
    ``max_cases > 0`` keeps every ⌈cases / max_cases⌉-th case (user order).
    ``stats["cases"]`` counts the cases before that thinning."""
    test, stats = _core.temporal_test_cases(
        dataset._c, int(test_start), int(gap), int(test_window), int(max_cases), drop_cold_targets,
        drop_cold_users, unique_targets
    )
    return EvalSet(test), stats
