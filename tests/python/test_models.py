import pickle

import numpy as np
import pytest

import recsys

SMALL_CONFIGS = {
    "mostpop": {},
    "itemknn": {"neighbors": 20},
    "sasrec": {"dim": 16, "num_blocks": 1, "num_heads": 1, "max_len": 20, "epochs": 2, "batch_size": 64},
    "longshort": {"dim": 16, "max_len": 10, "num_interests": 2, "epochs": 1, "batch_size": 64},
}


def test_model_types_registered():
    types = recsys.model_types()
    for t in ("mostpop", "itemknn"):
        assert t in types


@pytest.mark.parametrize("mtype", sorted(SMALL_CONFIGS))
def test_every_model_fits_recommends_and_roundtrips(mtype, split, tmp_path):
    if mtype not in recsys.model_types():
        pytest.skip(f"{mtype} not registered in this build")
    train, valid, test, _ = split
    seen = []
    model = recsys.Model.fit(mtype, train, SMALL_CONFIGS[mtype], threads=2, seed=1, progress=seen.append)
    assert model.type == mtype
    assert model.num_items == train.num_items
    assert isinstance(model.config, dict)
    r = model.evaluate(test, ks=(10, 20))
    assert r["users"] == len(test) and 0.0 <= r["ndcg@10"] <= r["hr@10"] <= r["hr@20"] <= 1.0

    hist = train.history(0)
    ids, scores = model.recommend(hist, k=10)
    assert ids.shape == (10,) and scores.dtype == np.float32
    assert not set(ids.tolist()) & set(hist.tolist())  # seen items filtered
    assert np.all(np.diff(scores) <= 0)
    # score() agrees with recommend() on the recommended items.
    np.testing.assert_allclose(model.score(hist, ids), scores, rtol=1e-5, atol=1e-6)

    path = tmp_path / f"{mtype}.rsm"
    model.save(path)
    again = recsys.Model.load(path)
    ids2, scores2 = again.recommend(hist, k=10)
    assert np.array_equal(ids, ids2)
    np.testing.assert_allclose(scores, scores2, rtol=1e-6)
    clone = pickle.loads(pickle.dumps(model))
    assert np.array_equal(clone.recommend(hist, k=10)[0], ids)
    assert clone.history == model.history


def test_recommend_batch_matches_single(itemknn, split):
    train = split[0]
    hists = [train.history(u) for u in range(5)]
    ids, scores = itemknn.recommend(hists, k=7)
    assert ids.shape == (5, 7)
    for u in range(5):
        i1, s1 = itemknn.recommend(hists[u], k=7)
        assert np.array_equal(ids[u], i1)
    # filter_seen=False may return seen items; exclude removes given ids.
    ex = ids[0, :3]
    i_ex, _ = itemknn.recommend(hists[0], k=7, exclude=ex)
    assert not set(ex.tolist()) & set(i_ex.tolist())
    # Unknown ids in a history are ignored; k above the catalogue is clamped.
    i_unk, _ = itemknn.recommend(list(hists[0]) + [10**15], k=7)
    assert np.array_equal(i_unk, ids[0])
    big, big_s = itemknn.recommend([], k=10**6)
    assert big.shape == (itemknn.num_items,)


def test_score_all_layout(itemknn, split):
    train = split[0]
    s = itemknn.score_all([train.history(0), train.history(1)])
    assert s.shape == (2, itemknn.num_items) and s.dtype == np.float32 and s.flags.c_contiguous
    one = itemknn.score_all(train.history(0))
    np.testing.assert_allclose(one, s[0])
    # Columns follow item_ids.
    ids, _ = itemknn.recommend(train.history(0), k=1, filter_seen=False)
    assert one[itemknn.item_vocab.lookup(ids)[0]] == one.max()
    unk = itemknn.score(train.history(0), [10**15])
    assert np.isnan(unk[0])


def test_progress_callback_can_stop(split):
    if "sasrec" not in recsys.model_types():
        pytest.skip("sasrec not registered")
    train, valid, _, _ = split
    calls = []

    def stop(p):
        calls.append(p)
        return False

    model = recsys.Model.fit("sasrec", train, {"dim": 8, "num_blocks": 1, "num_heads": 1, "max_len": 10,
                                                "epochs": 50, "batch_size": 32, "log_every_steps": 1},
                             valid=valid, threads=1, progress=stop)
    # Stopped right after the first report (the trainer may add one final report).
    assert 1 <= len(calls) <= 2
    assert calls[-1]["step"] <= 2 and "loss" in calls[0]
    assert model.history == calls


def test_progress_callback_exception_propagates(split):
    if "sasrec" not in recsys.model_types():
        pytest.skip("sasrec not registered")

    def boom(p):
        raise ZeroDivisionError("from callback")

    with pytest.raises(ZeroDivisionError, match="from callback"):
        recsys.Model.fit("sasrec", split[0], {"dim": 8, "num_blocks": 1, "num_heads": 1, "max_len": 10,
                                              "epochs": 3, "batch_size": 32, "log_every_steps": 1},
                         threads=1, progress=boom)


def test_fit_argument_errors(split):
    with pytest.raises(ValueError, match="no_such_model"):
        recsys.Model.fit("no_such_model", split[0])
    with pytest.raises(ValueError):
        recsys.Model.fit("itemknn", split[0], {"no_such_field": 1})
    with pytest.raises(TypeError, match="train"):
        recsys.Model.fit("itemknn", "not a dataset")
    with pytest.raises(TypeError, match="config"):
        recsys.Model.fit("itemknn", split[0], 5)


def test_evaluate_dict_and_frames(itemknn, mostpop, split):
    _, _, test, _ = split
    r = recsys.evaluate(itemknn, test, ks=(5, 10))
    for key in ("users", "hr@5", "ndcg@10", "mrr@10", "recall@10", "coverage@10"):
        assert key in r
    pd = pytest.importorskip("pandas")
    mf = recsys.metrics_frame(r)
    assert list(mf.index) == [5, 10] and mf.loc[10, "ndcg"] == r["ndcg@10"]
    ef = recsys.evaluate_frame({"knn": itemknn, "pop": mostpop}, test, ks=(10,))
    assert list(ef.index) == ["knn", "pop"]
    # The planted structure: item-kNN beats popularity on synthetic data.
    assert ef.loc["knn", "ndcg@10"] > ef.loc["pop", "ndcg@10"]
    with pytest.raises(ValueError):
        recsys.evaluate(itemknn, test, ks=(0,))


def test_case_metrics():
    m = recsys.case_metrics([5, 7, 9], [7], k=3)
    assert m["hr"] == 1.0 and m["mrr"] == 0.5
    np.testing.assert_allclose(m["ndcg"], 1 / np.log2(3))
    assert recsys.case_metrics([5, 7, 9], [7], k=1)["hr"] == 0.0
