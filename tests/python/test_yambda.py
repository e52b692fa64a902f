import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from recsys import yambda  # noqa: E402

DAY = 86400 // 5  # timestamps are in 5-second units


def _write(path):
    rows = [
        # uid, item, ts, organic, type, ratio
        (1, 100, 0, 1, "listen", 90),
        (1, 101, 10, 0, "listen", 30),     # dropped by Listen+
        (1, 102, 20, 1, "like", None),     # not a listen
        (1, 103, 30, 1, "listen", 50),     # kept (>= 50)
        (1, 103, 3 * DAY, 1, "listen", 100),  # test day
        (2, 100, 5, 0, "listen", 70),
        (2, 103, 2 * DAY, 1, "listen", 80),  # inside the 30-minute gap before the test day
        (2, 100, 3 * DAY + 50, 1, "listen", 60),   # test day
    ]
    cols = list(zip(*rows))
    table = pa.table({
        "uid": pa.array(cols[0], pa.uint32()),
        "item_id": pa.array(cols[1], pa.uint32()),
        "timestamp": pa.array(cols[2], pa.uint32()),
        "is_organic": pa.array(cols[3], pa.uint8()),
        "event_type": pa.array(cols[4]).dictionary_encode(),
        "played_ratio_pct": pa.array(cols[5], pa.uint16()),
        "track_length_seconds": pa.array([200] * len(rows), pa.uint32()),
    })
    pq.write_table(table, path)


def test_listen_plus_and_split(tmp_path):
    path = tmp_path / "multi_event.parquet"
    _write(path)
    ds = yambda.load(path)
    assert ds.num_events == 6  # 8 rows − 1 short listen − 1 like
    assert list(ds.history(0)) == [100, 103, 103]
    np.testing.assert_allclose(ds.weights[:3], [0.9, 0.5, 1.0])
    assert list(ds.organic[:3]) == [1, 1, 1]
    everything = yambda.load(path, event_types=None, listen_plus=False)
    assert everything.num_events == 8
    train, test, stats = yambda.split(ds)
    assert stats["gap"] == 360 and stats["test_window"] == DAY
    assert stats["gap_events"] == 1
    assert train.num_events == 3
    assert len(test) == 2
    assert sorted(test.vocab.ids[test.targets].tolist()) == [100, 103]


def test_missing_file_and_columns(tmp_path):
    with pytest.raises(FileNotFoundError):
        yambda.load(tmp_path / "none.parquet")
    pq.write_table(pa.table({"uid": [1], "item_id": [2]}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="timestamp"):
        yambda.load(tmp_path / "bad.parquet")
