"""The absl::Status → Python exception mapping (one place: python/src/module.cc)."""
import numpy as np
import pytest

import recsys
from recsys import _core

# absl::StatusCode values.
CODES = {
    "cancelled": 1, "unknown": 2, "invalid_argument": 3, "deadline": 4, "not_found": 5, "already_exists": 6,
    "permission": 7, "exhausted": 8, "precondition": 9, "aborted": 10, "out_of_range": 11,
    "unimplemented": 12, "internal": 13, "unavailable": 14, "data_loss": 15,
}


@pytest.mark.parametrize("code,exc", [
    ("invalid_argument", ValueError),
    ("out_of_range", ValueError),
    ("not_found", KeyError),
    ("data_loss", OSError),
    ("unavailable", OSError),
    ("permission", PermissionError),
    ("precondition", RuntimeError),
    ("internal", RuntimeError),
    ("unknown", RuntimeError),
])
def test_code_mapping_keeps_message(code, exc):
    with pytest.raises(exc) as info:
        _core._status_error(CODES[code], f"message for {code}")
    assert f"message for {code}" in str(info.value)


def test_not_found_for_files_is_file_not_found():
    with pytest.raises(FileNotFoundError):
        _core._status_error(CODES["not_found"], "cannot open 'x': No such file or directory")


def test_real_errors(tmp_path, itemknn):
    with pytest.raises(FileNotFoundError):
        recsys.Model.load(tmp_path / "nope.rsm")
    bad = tmp_path / "bad.rsm"
    bad.write_bytes(b"garbage" * 10)
    with pytest.raises((OSError, ValueError)):
        recsys.Model.load(bad)
    good = tmp_path / "good.rsm"
    itemknn.save(good)
    data = good.read_bytes()
    trunc = tmp_path / "trunc.rsm"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises((OSError, ValueError)):
        recsys.Model.load(trunc)
    with pytest.raises(ValueError, match="k"):
        itemknn.recommend([1, 2], k=0)
    with pytest.raises(TypeError, match="histories"):
        itemknn.recommend([[1.5, 2.0]], k=3)
