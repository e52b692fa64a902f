import os
import pickle

import numpy as np
import pytest

import recsys
from conftest import tiny_dataset


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64])
def test_from_arrays_any_integer_dtype(dtype):
    u, i, t = tiny_dataset()
    ds = recsys.Dataset.from_arrays(u.astype(dtype), i.astype(dtype), t)
    assert (ds.num_users, ds.num_items, ds.num_events) == (3, 5, 11)
    assert list(ds.history(0)) == [10, 11, 12, 13]
    assert sorted(ds.item_ids.tolist()) == [10, 11, 12, 13, 14]


def test_from_arrays_sorts_by_timestamp_and_keeps_extras():
    ds = recsys.Dataset.from_arrays([5, 5, 5], [1, 2, 3], [30, 10, 20], types=[1, 2, 1],
                                    weights=[0.5, 1.0, 0.25], organic=[True, False, True])
    assert list(ds.history(0)) == [2, 3, 1]
    assert list(ds.timestamps) == [10, 20, 30]
    assert list(ds.types) == [2, 1, 1]
    np.testing.assert_allclose(ds.weights, [1.0, 0.25, 0.5])
    assert list(ds.organic) == [0, 1, 1]


def test_from_arrays_checks_arguments():
    with pytest.raises(TypeError, match="items"):
        recsys.Dataset.from_arrays(np.array([1, 2]), np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match="users"):
        recsys.Dataset.from_arrays(np.array([[1, 2]]), np.array([1, 2]))
    with pytest.raises(ValueError, match="timestamps"):
        recsys.Dataset.from_arrays([1, 2], [1, 2], [1, 2, 3])
    with pytest.raises(TypeError, match="users"):
        recsys.Dataset.from_arrays(np.array(["a", "b"]), np.array([1, 2]))


def test_columns_are_zero_copy_views(synth):
    ds, _ = synth
    a, b = ds.items, ds.items
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    assert np.shares_memory(a, b)
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 1
    # The view keeps the dataset alive.
    ds2 = recsys.Dataset.from_arrays(*tiny_dataset())
    view = ds2.offsets
    del ds2
    assert list(view) == [0, 4, 7, 11]
    assert np.shares_memory(ds.item_ids, ds.item_ids)


def test_from_pandas_roundtrip():
    pd = pytest.importorskip("pandas")
    u, i, t = tiny_dataset()
    df = pd.DataFrame({"uid": u, "iid": i, "when": pd.to_datetime(t, unit="s")})
    ds = recsys.Dataset.from_pandas(df, "uid", "iid", "when")
    assert ds.num_events == 11
    out = ds.to_pandas()
    assert list(out.columns[:3]) == ["user", "item", "timestamp"]
    assert out["item"].tolist() == i.astype(int).tolist()
    with pytest.raises(KeyError, match="nope"):
        recsys.Dataset.from_pandas(df, "nope", "iid", "when")


def test_from_file_formats(tmp_path):
    (tmp_path / "a.txt").write_text("10 11 12\n11 12\n")
    (tmp_path / "b.txt").write_text("7 10 11 12\n9 11 12\n")
    (tmp_path / "c.csv").write_text("user,item,timestamp\n1,10,5\n1,11,6\n2,12,1\n")
    seq = recsys.Dataset.from_file(tmp_path / "a.txt", "seq")
    assert (seq.num_users, seq.num_events) == (2, 5)
    su = recsys.Dataset.from_file(tmp_path / "b.txt", "seq-user")
    assert list(su.user_ids) == [7, 9]
    csv = recsys.Dataset.from_file(tmp_path / "c.csv")
    assert csv.num_events == 3 and list(csv.history(0)) == [10, 11]
    csv.save_snapshot(tmp_path / "c.snap")
    snap = recsys.Dataset.from_file(tmp_path / "c.snap")
    assert list(snap.history(0)) == [10, 11]
    (tmp_path / "d.tsv").write_text("u\ti\tts\n1\t10\t5\n")
    tsv = recsys.Dataset.from_file(tmp_path / "d.tsv", "tsv", user_column="u", item_column="i",
                                   timestamp_column="ts")
    assert tsv.num_events == 1


def test_from_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        recsys.Dataset.from_file(tmp_path / "missing.txt")
    (tmp_path / "bad.txt").write_text("1 2 x3\n")
    with pytest.raises(ValueError, match="bad.txt:1"):
        recsys.Dataset.from_file(tmp_path / "bad.txt", "seq")
    with pytest.raises(ValueError, match="format"):
        recsys.Dataset.from_file(tmp_path / "bad.txt", "parquet")


def test_loo_split(synth):
    ds, _ = synth
    train, valid, test, skipped = ds.loo_split()
    assert train.num_events == ds.num_events - 2 * (ds.num_users - skipped)
    assert len(valid) == len(test) == ds.num_users - skipped
    u = int(test.users[0])
    full = ds.history(u)
    assert test.vocab.ids[test.targets[0]] == full[-1]
    assert valid.vocab.ids[valid.targets[0]] == full[-2]


def test_temporal_split():
    users = np.repeat([1, 2], 5)
    items = np.array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
    ts = np.array([0, 10, 20, 100, 110, 5, 15, 25, 95, 200])
    ds = recsys.Dataset.from_arrays(users, items, ts)
    train, test, stats = ds.temporal_split(test_start=100, gap=10, test_window=50, drop_cold_targets=False)
    assert train.num_events == 6
    assert stats["gap_events"] == 1 and stats["after_window_events"] == 1
    assert len(test) == 1 and sorted(test.vocab.ids[test.targets].tolist()) == [4, 5]
    # Items 4 and 5 have no train event: dropped as cold targets by default.
    _, test2, stats2 = ds.temporal_split(test_start=100, gap=10, test_window=50)
    assert len(test2) == 0 and stats2["cold_targets"] == 2


def test_temporal_train_snapshot_streams_the_train_part(tmp_path):
    users = np.repeat([1, 2], 5)
    items = np.array([1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
    ts = np.array([0, 10, 20, 100, 110, 5, 15, 25, 95, 200])
    full_path = tmp_path / "full.rsds"
    recsys.Dataset.from_arrays(users, items, ts).save_snapshot(full_path)
    mapped = recsys.Dataset.from_file(full_path)
    stats = mapped.save_temporal_train_snapshot(tmp_path / "train.rsds", test_start=100, gap=10, test_window=50)
    assert stats == {"train_events": 6, "gap_events": 1, "test_window_events": 2, "after_window_events": 1,
                     "users_with_train_events": 2}
    train = recsys.Dataset.from_file(tmp_path / "train.rsds")
    expected, _, _ = mapped.temporal_split(test_start=100, gap=10, test_window=50)
    assert train.num_events == expected.num_events == 6
    assert np.array_equal(train.items, expected.items) and np.array_equal(train.timestamps, expected.timestamps)
    with pytest.raises(ValueError, match="test_window"):
        mapped.save_temporal_train_snapshot(tmp_path / "bad.rsds", test_start=100, test_window=0)


def test_temporal_test_cases_match_the_split():
    ds, _ = recsys.synthetic(num_users=80, num_items=150, time_span=600, seed=5)
    t = np.sort(ds.timestamps)
    start = int(t[len(t) // 2])
    gap, window = start - int(t[len(t) * 45 // 100]), int(t[len(t) * 8 // 10]) - start
    _, full_test, split_stats = ds.temporal_split(test_start=start, gap=gap, test_window=window)
    test, stats = ds.temporal_test_cases(test_start=start, gap=gap, test_window=window)
    assert stats["cases"] == len(full_test) == len(test) > 3
    assert stats["cold_targets"] == split_stats["cold_targets"]
    assert np.array_equal(test.targets, full_test.targets) and np.array_equal(test.input_items, full_test.input_items)
    thinned, stats3 = recsys.temporal_test_cases(ds, start, gap, window, max_cases=3)
    assert len(thinned) == 3 and stats3["cases"] == len(full_test)
    with pytest.raises(ValueError, match="test_window"):
        ds.temporal_test_cases(test_start=start, test_window=0)


def test_synthetic_truth_and_determinism():
    a, ta = recsys.synthetic(num_users=50, num_items=100, seed=5)
    b, _ = recsys.synthetic(num_users=50, num_items=100, seed=5, threads=1)
    c, _ = recsys.synthetic(num_users=50, num_items=100, seed=6)
    assert np.array_equal(a.items, b.items)
    assert not np.array_equal(a.items, c.items) or a.num_events != c.num_events
    assert ta["item_cluster"].shape == (100,)
    with pytest.raises(ValueError, match="bogus"):
        recsys.synthetic(bogus=1)
    with pytest.raises(ValueError):
        recsys.synthetic(num_users=0)


def test_dataset_pickle_roundtrip(synth):
    ds, _ = synth
    again = pickle.loads(pickle.dumps(ds))
    assert again.num_events == ds.num_events
    assert np.array_equal(again.items, ds.items) and np.array_equal(again.item_ids, ds.item_ids)


def test_evalset_from_histories(synth):
    ds, _ = synth
    ids = ds.item_ids
    es = recsys.EvalSet.from_histories([[ids[0], ids[1], 10**12], [ids[2]]], [ids[3], 10**12], ds.item_vocab)
    assert len(es) == 2
    assert es.unknown_input_items == 1 and es.unknown_targets == 1
    with pytest.raises(ValueError, match="targets"):
        recsys.EvalSet.from_histories([[1], [2]], [1], ds.item_vocab)
