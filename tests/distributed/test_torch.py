"""torch.distributed: lossapi's losses on ``DTensor`` inputs over a
2-process gloo mesh on 127.0.0.1. The two ranks run every check once (one
spawn for the module) and send back full values and gradients; the
reference is the same call on plain tensors in this process."""

from __future__ import annotations

import os
import queue
import socket
import time

import numpy as np
import pytest
from representatives import REPS, inputs

torch = pytest.importorskip("torch")
dist = pytest.importorskip("torch.distributed")
mp = pytest.importorskip("torch.multiprocessing")

WORLD = 2
TIMEOUT_S = 150  # the whole spawn: start, checks, shutdown

# Losses whose code creates plain tensors (an eye, an arange, a buffer) and
# mixes them with its inputs: DTensor refuses that with a RuntimeError
# ("got mixed torch.Tensor and DTensor"), before computing anything.
MIXES_PLAIN = {"supcon", "ctc", "linear_cross_entropy"}


def _class_sharded_inputs():
    rng = np.random.default_rng(3)
    return rng.normal(size=(8, 12)), rng.integers(0, 12, 8)


def _worker(rank, port, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.tensor import DTensor, Replicate, Shard, distribute_tensor
        from torch.distributed.tensor.parallel import loss_parallel
        from torch.nn import functional as F

        import lossapi

        mesh = init_device_mesh("cpu", (WORLD,))
        res = {}
        for rep in REPS:
            arrays = []
            for i, a in enumerate(inputs(rep.id)):
                d = distribute_tensor(torch.as_tensor(a), mesh, [Replicate()] if i in rep.shared else [Shard(0)])
                arrays.append(d.requires_grad_(True) if i in rep.diff else d)
            try:
                value = rep.call(*arrays)
                value.backward()
            except Exception as e:  # reported to the test, which decides
                res[rep.id] = ("error", type(e).__name__, str(e))
                continue
            grads = [(arrays[i].grad.full_tensor().numpy(), arrays[i].grad.placements == arrays[i].placements)
                     for i in rep.diff]
            res[rep.id] = ("ok", isinstance(value, DTensor), float(value.full_tensor()), grads)

        logits, labels = _class_sharded_inputs()
        x = distribute_tensor(torch.as_tensor(logits), mesh, [Shard(1)]).requires_grad_(True)
        y = distribute_tensor(torch.as_tensor(labels), mesh, [Replicate()])
        with loss_parallel():  # torch's class-parallel cross-entropy
            v = F.cross_entropy(x, y)
            v.backward()
        res["loss_parallel"] = (float(v.full_tensor()), x.grad.full_tensor().numpy(), x.grad.placements)
        for name, call in [("cross_entropy", lambda: lossapi.cross_entropy(x, y)),
                           ("cross_entropy_z_loss", lambda: lossapi.cross_entropy(x, y, z_loss=1e-3)),
                           ("focal", lambda: lossapi.focal(x, y))]:
            try:
                res[f"class_sharded_{name}"] = ("ok", float(call().full_tensor()))
            except Exception as e:
                res[f"class_sharded_{name}"] = ("error", type(e).__name__, str(e))
        x.grad = None
        try:  # last: torch's loss_parallel() leaves its handlers installed when its body raises
            with loss_parallel():  # lossapi's cross_entropy takes torch's class-parallel kernel there
                v = lossapi.cross_entropy(x, y)
                v.backward()
            res["lossapi_loss_parallel"] = ("ok", float(v.full_tensor()), x.grad.full_tensor().numpy(),
                                            x.grad.placements)
        except Exception as e:
            res["lossapi_loss_parallel"] = ("error", type(e).__name__, str(e))
        if rank == 0:
            out.put(res)
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks():
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = mp.start_processes(_worker, args=(_free_port(), out), nprocs=WORLD, join=False, start_method="spawn")
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while not procs.join(timeout=max(1.0, deadline - time.monotonic())):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the {WORLD} gloo ranks did not finish in {TIMEOUT_S} s")
        return out.get(timeout=10)
    except queue.Empty:
        pytest.fail("rank 0 finished without sending its results")
    finally:
        for p in procs.processes:
            if p.is_alive():
                p.terminate()
                p.join(5)


@pytest.mark.parametrize("rep", REPS, ids=lambda r: r.id)
def test_batch_sharded(ranks, rep):
    got = ranks[rep.id]
    if rep.id in MIXES_PLAIN:
        assert got[:2] == ("error", "RuntimeError") and "mixed torch.Tensor and DTensor" in got[2], got
        return
    assert got[0] == "ok", got
    _, is_dtensor, value, grads = got
    assert is_dtensor
    arrays = [torch.as_tensor(a).requires_grad_(i in rep.diff) for i, a in enumerate(inputs(rep.id))]
    ref = rep.call(*arrays)  # float64, one process
    ref.backward()
    np.testing.assert_allclose(value, float(ref.detach()), rtol=1e-12, atol=1e-14)
    for i, (g, same_placement) in zip(rep.diff, grads):
        np.testing.assert_allclose(g, arrays[i].grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=f"grad {i}")
        assert same_placement, f"grad {i} lost its input's placement"


def test_loss_parallel_matches_one_process(ranks):
    # torch's own recipe for class-sharded logits, against lossapi on one process.
    import lossapi

    value, grad, placements = ranks["loss_parallel"]
    logits, labels = _class_sharded_inputs()
    x = torch.as_tensor(logits).requires_grad_(True)
    ref = lossapi.cross_entropy(x, torch.as_tensor(labels))
    ref.backward()
    np.testing.assert_allclose(value, float(ref.detach()), rtol=1e-12)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert str(placements) == "(Shard(dim=1),)", placements


def test_lossapi_cross_entropy_under_loss_parallel(ranks):
    # Inside loss_parallel(), lossapi.cross_entropy on class-sharded logits is
    # torch's class-parallel kernel: F.cross_entropy's one-process float64 value and gradient.
    from torch.nn import functional as F

    got = ranks["lossapi_loss_parallel"]
    assert got[0] == "ok", got
    _, value, grad, placements = got
    logits, labels = _class_sharded_inputs()
    x = torch.as_tensor(logits).requires_grad_(True)
    ref = F.cross_entropy(x, torch.as_tensor(labels))
    ref.backward()
    np.testing.assert_allclose(value, float(ref.detach()), rtol=1e-12)
    np.testing.assert_allclose(grad, x.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert str(placements) == "(Shard(dim=1),)", placements


@pytest.mark.parametrize("name", ["cross_entropy", "cross_entropy_z_loss", "focal"])
def test_class_sharded_is_refused(ranks, name):
    # lossapi never all-gathers class-sharded logits behind the caller's back.
    got = ranks[f"class_sharded_{name}"]
    assert got[:2] == ("error", "ValueError"), got
    assert "sharded" in got[2] and "loss_parallel" in got[2], got[2]
