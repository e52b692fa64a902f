"""Models: training, recommendation, scoring, persistence.

Example::

    import recsys
    ds, _ = recsys.synthetic(num_users=500, seed=1)
    train, valid, test, _ = ds.loo_split()
    model = recsys.Model.fit("itemknn", train, valid=valid)
    ids, scores = model.recommend([3, 17, 42], k=10)     # one history → 1-D arrays
    print(model.evaluate(test, ks=(10, 20)))

Heavy calls release the GIL, so several Python threads can score in parallel.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from recsys import _core
from recsys.data import Dataset, EvalSet, Histories, PathLike, Vocabulary, to_csr

ProgressFn = Callable[[Dict[str, Any]], Optional[bool]]


def model_types() -> List[str]:
    """Registered model type names (mostpop, itemknn, sasrec, longshort, …)."""
    return list(_core.model_types())


class Model:
    """A trained sequential recommender. Thread safety: const methods may run concurrently."""

    def __init__(self, core: "_core.Model", history: Optional[List[Dict[str, Any]]] = None) -> None:
        self._c = core
        #: Progress records of training (one dict per callback: epoch, step, loss, valid_metric, …).
        self.history: List[Dict[str, Any]] = list(history or [])

    @classmethod
    def fit(
        cls,
        type: str,
        train: Dataset,
        config: Union[None, str, Dict[str, Any]] = None,
        *,
        valid: Optional[EvalSet] = None,
        threads: int = 0,
        seed: int = 42,
        max_minutes: float = 0.0,
        progress: Optional[ProgressFn] = None,
    ) -> "Model":
        """Trains a registered model type on ``train``.

        ``config``: a dict (sent as JSON) or a JSON string; unknown fields
        raise ValueError. ``valid`` enables validation / early stopping in the
        C++ trainer. ``progress(dict)`` is called after each epoch (and
        periodically); returning False stops training.
        """
        if not isinstance(train, Dataset):
            raise TypeError(f"train: expected recsys.Dataset, got {train.__class__.__name__}")
        if config is None:
            config_json = "{}"
        elif isinstance(config, str):
            config_json = config
        elif isinstance(config, dict):
            config_json = json.dumps(config)
        else:
            raise TypeError(f"config: expected dict, JSON string or None, got {config.__class__.__name__}")
        records: List[Dict[str, Any]] = []

        def on_progress(p: Dict[str, Any]) -> bool:
            records.append(p)
            if progress is None:
                return True
            r = progress(p)
            return True if r is None else bool(r)

        core = _core.Model.train(
            type, config_json, train._c, None if valid is None else valid._c, threads, seed, max_minutes, on_progress
        )
        return cls(core, records)

    @classmethod
    def load(cls, path: PathLike) -> "Model":
        """Loads any saved model (dispatches on the type stored in the file)."""
        return cls(_core.Model.load(os.fspath(path)))

    def save(self, path: PathLike) -> None:
        """Writes the model, its config and vocabulary to one file."""
        self._c.save(os.fspath(path))

    # ---- pickling -----------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "model.rsm")
            self.save(p)
            with open(p, "rb") as f:
                return f.read()

    @classmethod
    def from_bytes(cls, data: bytes) -> "Model":
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "model.rsm")
            with open(p, "wb") as f:
                f.write(data)
            return cls.load(p)

    def __reduce__(self):
        return (_model_from_state, (self.to_bytes(), self.history))

    # ---- properties ---------------------------------------------------------------------------
    type = property(lambda self: self._c.type, doc="Registry name of the model type.")
    num_items = property(lambda self: self._c.num_items, doc="Items the model scores.")
    item_vocab = property(lambda self: Vocabulary(self._c.item_vocab))
    item_ids = property(lambda self: self._c.item_vocab.ids, doc="External id per column of score_all().")

    @property
    def config(self) -> Dict[str, Any]:
        """The model's configuration (parsed JSON)."""
        return json.loads(self._c.config_json)

    def __repr__(self) -> str:
        return f"Model(type={self.type!r}, items={self.num_items})"

    # ---- inference ----------------------------------------------------------------------------
    def recommend(
        self,
        histories: Histories,
        k: int = 10,
        *,
        filter_seen: bool = True,
        exclude: Optional[Sequence[int]] = None,
        threads: int = 0,
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Top-``k`` external item ids and scores.

        One history (1-D ids) → two 1-D arrays; a batch → two n × k arrays.
        Padding (fewer than k rankable items): id -1, score -inf. Unknown
        history ids are ignored.
        """
        offsets, items, single = to_csr(histories)
        ex = None if exclude is None else np.asarray(exclude)
        ids, scores, _unknown = self._c.recommend(offsets, items, k, filter_seen, ex, threads)
        return (ids[0], scores[0]) if single else (ids, scores)

    def score(self, history: Sequence[int], candidates: Sequence[int], *, threads: int = 0) -> np.ndarray:
        """Scores of candidate external ids for one history (NaN for unknown candidates)."""
        return self._c.score(np.asarray(history), np.asarray(candidates), threads)

    def score_all(self, histories: Histories, *, threads: int = 0) -> np.ndarray:
        """Scores of every item: n × num_items float32 (1-D for one history); columns follow item_ids."""
        offsets, items, single = to_csr(histories)
        out = self._c.score_all(offsets, items, threads)
        return out[0] if single else out

    def evaluate(self, cases: EvalSet, ks: Sequence[int] = (10,), *, filter_seen: bool = True,
                 threads: int = 0) -> Dict[str, Any]:
        """Full-catalogue metrics on ``cases``; see :func:`recsys.evaluate`."""
        from recsys.evaluation import evaluate

        return evaluate(self, cases, ks, filter_seen=filter_seen, threads=threads)


def _model_from_state(data: bytes, history: List[Dict[str, Any]]) -> Model:
    m = Model.from_bytes(data)
    m.history = list(history)
    return m


def fit(type: str, train: Dataset, config: Union[None, str, Dict[str, Any]] = None, **kw: Any) -> Model:
    """Shortcut for :meth:`Model.fit`."""
    return Model.fit(type, train, config, **kw)


def load_model(path: PathLike) -> Model:
    """Shortcut for :meth:`Model.load`."""
    return Model.load(path)
