import numpy as np
import pytest

import recsys


def _vectors(n, d, seed):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(16, d))
    return (centers[rng.integers(0, 16, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


def test_flat_matches_numpy_and_roundtrips(tmp_path):
    items, queries = _vectors(2000, 32, 1), _vectors(20, 32, 2)
    index = recsys.AnnIndex("Flat", dim=32)
    index.add(items)
    assert len(index) == 2000 and index.is_exact
    ids, scores = index.search(queries, k=10)
    assert ids.shape == (20, 10) and ids.dtype == np.int32 and scores.dtype == np.float32
    expect = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expect)]) > 0.99
    np.testing.assert_allclose(scores[:, 0], np.max(queries @ items.T, axis=1), rtol=1e-4)
    index.save(tmp_path / "flat.idx")
    again = recsys.AnnIndex.load(tmp_path / "flat.idx")
    assert np.array_equal(again.search(queries, k=10)[0], ids)


def test_hnsw_recall():
    items, queries = _vectors(3000, 16, 3), _vectors(50, 16, 4)
    index = recsys.AnnIndex("HNSW32", dim=16)
    index.add(items)
    ids, _ = index.search(queries, k=10, ef_search=128)
    expect = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expect)])
    assert recall > 0.8
    # Scored results: beam 16, the best 200 of every node scored (exact scores).
    wide, wide_scores = index.search(queries, k=200, ef_search=16, scored_results=True)
    assert (wide >= 0).all()
    truth = np.argsort(-(queries @ items.T), axis=1)[:, :200]
    assert np.mean([len(set(a) & set(b)) / 200 for a, b in zip(wide, truth)]) > 0.5
    exact = np.take_along_axis(queries @ items.T, wide.astype(np.int64), axis=1)
    np.testing.assert_allclose(wide_scores, exact, rtol=1e-4, atol=1e-5)


def test_hnsw_locality_order(tmp_path):
    # The graph re-stored in breadth-first order keeps the caller's ids: recall
    # against brute force, and a save/load round trip answers the same.
    items, queries = _vectors(3000, 16, 5), _vectors(50, 16, 6)
    index = recsys.AnnIndex("HNSW32", dim=16, locality_order=True)
    assert not recsys.AnnIndex("HNSW32", dim=16).locality_ordered
    index.add(items)
    assert index.locality_ordered
    ids, scores = index.search(queries, k=10, ef_search=128)
    expect = np.argsort(-(queries @ items.T), axis=1)[:, :10]
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, expect)]) > 0.8
    exact = np.take_along_axis(queries @ items.T, ids.astype(np.int64), axis=1)
    np.testing.assert_allclose(scores, exact, rtol=1e-4, atol=1e-5)
    index.save(tmp_path / "lo.rsann")
    again = recsys.AnnIndex.load(tmp_path / "lo.rsann")
    assert again.locality_ordered
    again_ids, again_scores = again.search(queries, k=10, ef_search=128)
    assert np.array_equal(again_ids, ids)
    assert np.array_equal(again_scores, scores)


def test_input_checks():
    index = recsys.AnnIndex("Flat", dim=8)
    with pytest.raises(TypeError, match="items"):
        index.add(np.zeros((4, 8), dtype=np.float64))
    with pytest.raises(ValueError, match="items"):
        index.add(np.zeros((8, 4), dtype=np.float32).T)  # not C-contiguous
    with pytest.raises(ValueError, match="items"):
        index.add(np.zeros(8, dtype=np.float32))
    with pytest.raises(ValueError, match="columns"):
        index.add(np.zeros((4, 7), dtype=np.float32))
    with pytest.raises((ValueError, RuntimeError), match="NoSuchFactory"):
        recsys.AnnIndex("NoSuchFactory", dim=8)
    with pytest.raises(FileNotFoundError):
        recsys.AnnIndex.load("/nonexistent/index.bin")
