import pytest

pytest.importorskip("matplotlib")

from recsys import plot  # noqa: E402

PNG = b"\x89PNG"


def test_plots_write_png(tmp_path, itemknn, mostpop, split):
    history = [{"epoch": 1, "step": 10, "loss": 2.0, "valid_metric_name": "ndcg@10", "valid_metric": 0.1},
               {"epoch": 2, "step": 20, "loss": 1.5, "valid_metric_name": "ndcg@10", "valid_metric": 0.2}]
    p = plot.training_curves({"a": history, "b": history}, tmp_path / "train.png")
    assert open(p, "rb").read(4) == PNG
    test = split[2]
    results = {"knn": itemknn.evaluate(test, ks=(1, 5, 10)), "pop": mostpop.evaluate(test, ks=(1, 5, 10))}
    p = plot.metric_vs_k(results, tmp_path / "k.png")
    assert open(p, "rb").read(4) == PNG
    pts = [{"index": "HNSW", "recall": 0.9, "qps": 1000, "label": "ef=64"},
           {"index": "HNSW", "recall": 0.97, "qps": 500}, {"index": "Flat", "recall": 1.0, "qps": 100}]
    p = plot.tradeoff(pts, tmp_path / "t.png")
    assert open(p, "rb").read(4) == PNG
