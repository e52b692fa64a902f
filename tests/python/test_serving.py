"""Pipeline + Recommender from Python: build, save/load, every option, batch, swap, errors."""
import threading

import numpy as np
import pytest

import recsys


@pytest.fixture(scope="module")
def longshort(split):
    train = split[0]
    cfg = {"dim": 16, "max_len": 10, "num_interests": 2, "epochs": 1, "batch_size": 64}
    return recsys.Model.fit("longshort", train, cfg, threads=2, seed=1)


@pytest.fixture(scope="module")
def pipeline(longshort, split):
    train = split[0]
    pop = train.item_counts().astype(np.float32)
    cats = (np.arange(train.num_items) % 3).astype(np.int64)
    return recsys.Pipeline.build(longshort, index_factory="HNSW16", ef_search=64, popularity=pop, categories=cats,
                                 name="v1", threads=1)


def test_recommend_end_to_end(pipeline, longshort, split):
    train = split[0]
    rec = recsys.Recommender(pipeline)
    hist = train.history(0)
    out = rec.recommend(hist, k=10)
    assert out["pipeline"] == "v1"
    assert out["items"].dtype == np.int64 and out["items"].shape == (10,)
    assert out["scores"].dtype == np.float32 and np.all(np.diff(out["scores"]) <= 0)
    assert not set(out["items"].tolist()) & set(hist.tolist())  # seen filtered
    assert len(out["sources"]) == 10
    assert all(s["generator"] in ("ann", "item2item", "popularity", "model") for src in out["sources"] for s in src)
    assert out["num_candidates"] >= 10 and out["elapsed_ms"] > 0
    # Ranker scores are the model's own scores for those items.
    np.testing.assert_allclose(longshort.score(hist, out["items"]), out["scores"], rtol=1e-4, atol=1e-5)


def test_options_reach_the_engine(pipeline, split):
    train = split[0]
    rec = recsys.Recommender(pipeline)
    hist = train.history(1)
    ids = train.item_vocab.ids
    allow = ids[:40]
    out = rec.recommend(hist, k=5, allow=allow, filter_seen=False)
    assert set(out["items"].tolist()) <= set(allow.tolist())
    top = rec.recommend(hist, k=5)["items"]
    out = rec.recommend(hist, k=5, exclude=top)
    assert not set(out["items"].tolist()) & set(top.tolist())
    mmr = rec.recommend(hist, k=10, reranker="mmr", mmr_lambda=0.0, mmr_pool=50)
    assert len(mmr["items"]) == 10
    q = rec.recommend(hist, k=9, reranker="quotas", quotas={0: 1.0 / 3, 1: 1.0 / 3, 2: 1.0 / 3})
    assert [r["filled"] for r in q["quota_report"]] == [3, 3, 3]
    pop_only = rec.recommend(hist, k=5, ann_candidates=0, item_to_item_candidates=0, popularity_candidates=30)
    assert all(s["generator"] == "popularity" for src in pop_only["sources"] for s in src)
    assert rec.recommend(hist, k=5, ann_merge="max_score", ann_fetch_factor=0, ef_search=32)["items"].shape == (5,)
    assert rec.recommend(hist, k=5, ef_search=16, ann_scored_results=True)["items"].shape == (5,)
    # The interest queries' walks in lock step or one at a time: same answer.
    together = rec.recommend(hist, k=20, ef_search=16, ann_scored_results=True, ann_walk_group=8)
    alone = rec.recommend(hist, k=20, ef_search=16, ann_scored_results=True, ann_walk_group=1)
    assert together["items"].tolist() == alone["items"].tolist()
    with pytest.raises(ValueError, match="ann_walk_group"):
        rec.recommend(hist, k=5, ann_walk_group=0)
    assert rec.recommend(user_id=None, history=[10**12], k=3)["unknown_history_items"] == 1


def test_batch_matches_single_and_threads(pipeline, split):
    train = split[0]
    rec = recsys.Recommender(pipeline)
    hists = [train.history(u) for u in range(12)]
    batch = rec.recommend_batch(hists, k=7, threads=2)
    for h, b in zip(hists, batch):
        one = rec.recommend(h, k=7)
        assert np.array_equal(one["items"], b["items"])
        np.testing.assert_array_equal(one["scores"], b["scores"])


def test_save_load_swap(pipeline, split, tmp_path):
    train = split[0]
    path = tmp_path / "p.rsp"
    pipeline.save(path)
    loaded = recsys.Pipeline.load(path)
    assert loaded.has_index and loaded.index_factory == "HNSW16" and loaded.num_items == pipeline.num_items
    rec = recsys.Recommender(path)  # a path works too
    hist = train.history(2)
    a = rec.recommend(hist, k=8)
    b = recsys.Recommender(pipeline).recommend(hist, k=8)
    assert np.array_equal(a["items"], b["items"])
    mostpop = recsys.Model.fit("mostpop", train)
    rec.swap(recsys.Pipeline.build(mostpop, name="v2"))
    assert rec.pipeline.name == "v2" and rec.pipeline.model.type == "mostpop"
    assert rec.recommend(hist, k=3)["pipeline"] == "v2"
    # A bad swap keeps the current pipeline.
    bad = tmp_path / "bad.rsp"
    bad.write_bytes(path.read_bytes()[:-50])
    with pytest.raises(OSError):
        rec.swap(bad)
    assert rec.pipeline.name == "v2"


def test_locality_ordered_pipeline(longshort, split, tmp_path):
    train = split[0]
    ordered = recsys.Pipeline.build(longshort, index_factory="HNSW16", ef_search=64, name="lo", threads=1,
                                    locality_order=True)
    assert ordered.index_locality_ordered
    assert not recsys.Pipeline.build(longshort, index_factory="HNSW16", threads=1).index_locality_ordered
    ordered.save(tmp_path / "lo.rsp")
    again = recsys.Pipeline.load(tmp_path / "lo.rsp")
    assert again.index_locality_ordered
    hist = train.history(0)
    a = recsys.Recommender(ordered).recommend(hist, k=10)
    b = recsys.Recommender(again).recommend(hist, k=10)
    assert len(a["items"]) == 10 and list(a["items"]) == list(b["items"])
    assert set(a["items"]).isdisjoint(set(hist.tolist()))  # seen items filtered by default


def test_concurrent_requests_during_swaps(pipeline, split):
    train = split[0]
    rec = recsys.Recommender(pipeline)
    mostpop = recsys.Pipeline.build(recsys.Model.fit("mostpop", train), name="mp")
    errors = []

    def serve(seed):
        rng = np.random.default_rng(seed)
        for _ in range(40):
            u = int(rng.integers(train.num_users))
            try:
                out = rec.recommend(train.history(u), k=5)
                assert len(out["items"]) == 5 and out["pipeline"] in ("v1", "mp")
            except Exception as e:  # noqa: BLE001 - collected and reported below
                errors.append(e)

    threads = [threading.Thread(target=serve, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for i in range(10):
        rec.swap(mostpop if i % 2 == 0 else pipeline)
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def test_errors_name_the_argument(pipeline, split):
    rec = recsys.Recommender(pipeline)
    hist = split[0].history(0)
    with pytest.raises(ValueError, match="RecommendOptions.k"):
        rec.recommend(hist, k=0)
    with pytest.raises(ValueError, match="reranker"):
        rec.recommend(hist, reranker="best")
    with pytest.raises(ValueError, match="ann_merge"):
        rec.recommend(hist, ann_merge="sum")
    with pytest.raises(TypeError, match="unexpected keyword argument 'kk'"):
        rec.recommend(hist, kk=3)
    with pytest.raises(TypeError, match="history"):
        rec.recommend(np.array([0.5, 1.5]))
    with pytest.raises(ValueError, match="request 0: RecommendOptions.k"):
        rec.recommend_batch([hist, hist], k=-1)
    with pytest.raises(ValueError, match="mmr"):
        rec.recommend(hist, reranker="mmr", mmr_lambda=2.0)
    with pytest.raises(FileNotFoundError):
        recsys.Pipeline.load("/nonexistent/p.rsp")
    with pytest.raises(ValueError, match="popularity"):
        recsys.Pipeline.build(pipeline.model, popularity=np.ones(3, dtype=np.float32))


def test_two_stage_evaluation(longshort, split):
    train, valid, test, _ = split
    exact = recsys.Recommender(recsys.Pipeline.build(longshort, index_factory="Flat", name="exact", threads=1))
    full = longshort.evaluate(test, [5, 10])
    # Every item a candidate over an exact index: the two-stage ranking is the full ranking.
    every = exact.evaluate(test, [5, 10], candidates=train.num_items)
    assert every["users"] == full["users"]
    assert every["ndcg@10"] == pytest.approx(full["ndcg@10"], abs=1e-12)
    n = 20
    few = exact.evaluate(test, [5, 10], candidates=n, threads=2)
    one = exact.evaluate(test, [5, 10], candidates=n, threads=1)
    assert {k: v for k, v in few.items() if k != "seconds"} == {k: v for k, v in one.items() if k != "seconds"}
    assert 0 < few[f"stage1_recall@{n}"] <= 1
    assert few["hr@10"] <= few[f"stage1_hr@{n}"]
    assert few["mean_candidates"] <= n
    with pytest.raises(ValueError, match="cutoff 10"):
        exact.evaluate(test, [10], candidates=5)
    graph = recsys.Recommender(recsys.Pipeline.build(longshort, index_factory="HNSW16", name="hnsw", threads=1))
    scored = graph.evaluate(test, [5, 10], candidates=n, ef_search=8, scored_results=True)
    assert 0 < scored[f"stage1_recall@{n}"] <= 1 and scored["mean_candidates"] <= n
