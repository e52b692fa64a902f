"""recsys: two-stage recommendation engine (FAISS candidates + long/short-term ranker).

The heavy lifting happens in the compiled module ``recsys._core``; this package
is the Pythonic shell around it::

    import recsys
    ds, truth = recsys.synthetic(num_users=1000, seed=7)
    train, valid, test, _ = ds.loo_split()
    model = recsys.Model.fit("sasrec", train, {"epochs": 2}, valid=valid)
    print(recsys.evaluate(model, test, ks=(10, 20)))
    ids, scores = model.recommend([1, 2, 3], k=10)
    rec = recsys.Recommender(recsys.Pipeline.build(model))   # serving facade
    rec.recommend([1, 2, 3], k=10)["items"]

Errors from the engine map to ValueError (invalid argument), KeyError /
FileNotFoundError (not found), OSError (I/O, data loss) and RuntimeError.
"""
from recsys._core import __version__
from recsys.candidates import AnnIndex
from recsys.data import Dataset, EvalSet, Vocabulary, loo_split, synthetic, temporal_split, temporal_test_cases
from recsys.evaluation import case_metrics, evaluate, evaluate_frame, metrics_frame
from recsys.models import Model, fit, load_model, model_types
from recsys.serving import Pipeline, Recommender

__all__ = [
    "__version__",
    "AnnIndex",
    "Dataset",
    "EvalSet",
    "Model",
    "Pipeline",
    "Recommender",
    "Vocabulary",
    "case_metrics",
    "evaluate",
    "evaluate_frame",
    "fit",
    "load_model",
    "loo_split",
    "metrics_frame",
    "model_types",
    "synthetic",
    "temporal_split",
    "temporal_test_cases",
]
