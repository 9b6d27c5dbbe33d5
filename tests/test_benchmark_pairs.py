"""The benchmark pairs compute what they claim: lossapi and its native peer
(torch.nn.functional, optax, scikit-learn) agree in value, and in gradient
where the peer differentiates, on tiny inputs. Nothing here is timed; the
benchmarks themselves run with ``python -m benchmarks``.
"""

from __future__ import annotations

import pytest

pairs = pytest.importorskip("benchmarks.pairs")  # the repository root is on sys.path (conftest.py)
pytest.importorskip("numpy")

NEEDS = {"torch": ("torch",), "optax": ("jax", "optax"), "sklearn": ("sklearn",), "torch-composition": ("torch",),
         "jax-composition": ("jax",)}
ALL = pairs.all_pairs()


def test_pair_ids_are_unique():
    ids = [p.id for p in ALL]
    assert len(ids) == len(set(ids))


def test_pairs_name_public_losses():
    import lossapi

    unknown = sorted({p.loss for p in ALL} - set(lossapi.__all__))
    assert unknown == [], f"benchmark pairs name losses lossapi does not export: {unknown}"


@pytest.mark.parametrize("pair", ALL, ids=[p.id for p in ALL])
def test_pair_values_agree(pair):
    for mod in NEEDS[pair.lib]:
        pytest.importorskip(mod)
    got = pairs.check_pair(pair, "tiny")  # raises Mismatch on disagreement
    assert got["ours"] == pytest.approx(got["peer"], rel=1e-4)


def test_a_wrong_mapping_is_caught():
    pytest.importorskip("sklearn")
    wrong = pairs.Pair("mse", "sklearn", "mean_absolute_error", "vec", pairs._reg, lambda L: L.mse,
                       pairs._sk("mean_absolute_error"), grad=())
    with pytest.raises(pairs.Mismatch, match="sklearn:mse"):
        pairs.check_pair(wrong, "tiny")


def test_a_wrong_gradient_is_caught():
    pytest.importorskip("torch")
    # Same value, wrong gradient: the peer detaches its input (gradient 0).
    wrong = pairs.Pair("mse", "torch", "F.mse_loss on a detached copy plus 0 * pred", "ew", pairs._reg,
                       lambda L: L.mse, lambda m: lambda p, t: m.F.mse_loss(p.detach(), t) + 0.0 * p.sum())
    with pytest.raises(pairs.Mismatch, match="gradient"):
        pairs.check_pair(wrong, "tiny")
