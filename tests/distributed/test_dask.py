"""Dask distributed: losses over arrays larger than one worker's memory
limit, on a ``LocalCluster`` of 2 worker processes (1 thread each, 600 MiB).
lossapi builds the graph and returns a lazy dask array (it never calls
``compute``); the cluster computes it; NumPy float64 on a slice of the rows
is the reference (a mean over rows is the mean of per-row values, so the
``reduction="none"`` values of the slice are checked as well)."""

from __future__ import annotations

import numpy as np
import pytest

import lossapi

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

MEMORY_LIMIT = "600MiB"
ROWS, COLS = 1_000_000, 100  # 1e8 float32 elements: 400 MB per input; the two exceed a worker's 600 MiB


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, memory_limit=MEMORY_LIMIT,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster, timeout=60) as c:
        c.wait_for_workers(2, timeout=60)
        c.first_workers = set(c.scheduler_info()["workers"])
        yield c


def _random(shape, chunks, seed):
    # float32 straight from the generator: no float64 copy per chunk.
    return da.random.default_rng(seed).standard_normal(shape, chunks=chunks, dtype=np.float32)


@pytest.fixture
def no_compute(monkeypatch):
    """Counts dask compute calls made while lossapi builds the graph."""
    calls = []
    import dask

    real = dask.base.compute

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(dask.base, "compute", counting)
    monkeypatch.setattr(dask, "compute", counting)
    return calls


def _huber_ref(p, t, delta):
    r = np.abs(p.astype(np.float64) - t.astype(np.float64))
    return np.where(r <= delta, 0.5 * r**2, delta * (r - 0.5 * delta))


def _ce_ref(z, y, eps):
    # torch's label smoothing: (1 - eps) * -log p[y] + eps * mean_c(-log p[c])
    z, y = z.astype(np.float64), y.reshape(-1)
    m = z.max(-1, keepdims=True)
    logp = z - (np.log(np.exp(z - m).sum(-1, keepdims=True)) + m)
    return -((1 - eps) * np.take_along_axis(logp, y[:, None], -1)[:, 0] + eps * logp.mean(-1))


def test_huber_batch_chunked(client, no_compute):
    chunks = (25_000, COLS)  # 40 chunks of 10 MB per input
    # target: a constant (no generation cost); pred alone is 1e8 elements.
    pred, target = _random((ROWS, COLS), chunks, 0), da.full((ROWS, COLS), 0.25, chunks=chunks, dtype=np.float32)
    out = lossapi.huber(pred, target, delta=0.5)
    head = lossapi.huber(pred[:2000], target[:2000], delta=0.5, reduction="none")
    assert isinstance(out, da.Array) and isinstance(head, da.Array), "not lazy"
    assert not no_compute, "lossapi computed something itself"
    # The float64 NumPy reference over the same chunks, in the same graph.
    ref = da.map_blocks(_huber_ref, pred, target, 0.5, dtype=np.float64).mean()
    value, rows, ref_value, p, t = client.compute([out, head, ref, pred[:2000], target[:2000]], sync=True)
    np.testing.assert_allclose(rows, _huber_ref(p, t, 0.5), rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(float(value), float(ref_value), rtol=1e-5)


def test_cross_entropy_chunked_along_batch_and_classes(client, no_compute):
    n, c = 400_000, 500  # 2e8 float32 elements (800 MB, past a worker's 600 MiB) in 16 x 2 chunks
    logits = _random((n, c), (25_000, 250), 2)
    labels = da.random.default_rng(3).integers(0, c, n, chunks=25_000)
    out = lossapi.cross_entropy(logits, labels, label_smoothing=0.1)
    head = lossapi.cross_entropy(logits[:4000], labels[:4000], label_smoothing=0.1, reduction="none")
    assert isinstance(out, da.Array) and isinstance(head, da.Array), "not lazy"
    assert not no_compute, "lossapi computed something itself"
    # The reference takes whole rows in float64: small row blocks keep each task's copies small.
    rows_ = (5_000, -1)
    ref = da.map_blocks(_ce_ref, logits.rechunk(rows_), labels[:, None].rechunk(rows_), 0.1, drop_axis=1,
                        dtype=np.float64).mean()
    value, rows, ref_value, z, y = client.compute([out, head, ref, logits[:4000], labels[:4000]], sync=True)
    np.testing.assert_allclose(rows, _ce_ref(z, y, 0.1), rtol=2e-5, atol=1e-5)
    np.testing.assert_allclose(float(value), float(ref_value), rtol=1e-5)


def test_no_worker_was_restarted(client):
    # A worker past its memory limit is killed and its nanny starts a new one
    # on a new port: the two from the start must still be the ones serving.
    assert set(client.scheduler_info()["workers"]) == client.first_workers
    for w in client.scheduler_info()["workers"].values():
        assert w["memory_limit"] <= 600 * 2**20
