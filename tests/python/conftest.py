"""Shared fixtures of the Python suite: small synthetic data and trained models (fast, fixed seeds)."""
import os

import numpy as np
import pytest

import recsys

DATA_DIR = os.environ.get("RECSYS_DATA_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))


@pytest.fixture(scope="session")
def synth():
    ds, truth = recsys.synthetic(num_users=400, num_items=300, num_clusters=10, mean_events_per_user=20, seed=3)
    return ds, truth


@pytest.fixture(scope="session")
def split(synth):
    ds, _ = synth
    return ds.loo_split()


@pytest.fixture(scope="session")
def itemknn(split):
    train, valid, test, _ = split
    return recsys.Model.fit("itemknn", train, seed=1, threads=1)


@pytest.fixture(scope="session")
def mostpop(split):
    train, valid, test, _ = split
    return recsys.Model.fit("mostpop", train)


def tiny_dataset():
    users = np.array([1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3], dtype=np.int32)
    items = np.array([10, 11, 12, 13, 11, 12, 14, 10, 12, 13, 14], dtype=np.uint16)
    ts = np.arange(len(users), dtype=np.int64)
    return users, items, ts
