"""The multiplication experiment's width search, its importance-sampled target, and the
per-model data / test loss options of fit_batched it relies on."""

import math

import pytest
import torch

from depthlab.config import ConfigError
from depthlab.data.base import Dataset
from depthlab.experiments.multiplication import (
    WidthSearch,
    product_is_data,
    search_min_width,
    weighted_mse,
)
from depthlab.nets import mlp
from depthlab.runs import run_experiment
from depthlab.train import TrainConfig
from depthlab.train_batched import fit_batched

# ---- the search on a synthetic monotone oracle --------------------------------------------


@pytest.mark.parametrize("w_star", [1, 2, 3, 7, 8, 9, 13, 17, 24])
def test_search_is_exact_for_small_minima(w_star):
    calls = []

    def passes(w):
        calls.append(w)
        return w >= w_star

    found, s = search_min_width(passes, cap=4096)
    assert found == w_star
    assert s.stop_reason == "found"
    assert s.lo == w_star - 1
    assert len(set(calls)) == len(calls)  # no width is trained twice


@pytest.mark.parametrize("w_star", [33, 100, 777, 1500, 3000, 4096])
def test_search_brackets_large_minima_within_the_resolution(w_star):
    found, s = search_min_width(lambda w: w >= w_star, cap=4096, resolution=0.125)
    assert found is not None and found >= w_star  # a width that really passes
    assert s.lo < w_star  # a width that really fails
    assert found - s.lo <= max(1, 0.125 * found)
    # doubling (<= 13 widths up to 4096) plus log2 bisection steps, not a sweep
    assert len(s.probed) <= 13 + 12


@pytest.mark.parametrize("w_star", [100, 777, 3000])
def test_search_with_fine_resolution_is_exact(w_star):
    found, s = search_min_width(lambda w: w >= w_star, cap=4096, resolution=1e-9)
    assert found == w_star
    assert s.lo == w_star - 1
    assert len(s.probed) <= 5 + 2 * math.ceil(math.log2(4096))


@pytest.mark.parametrize("cap", [16, 20, 1365])
def test_search_is_censored_at_the_cap(cap):
    found, s = search_min_width(lambda w: False, cap=cap)
    assert found is None
    assert s.censored and s.stop_reason == "cap"
    assert max(s.probed) == cap  # the cap itself was tried, nothing above it
    assert s.result is None


def test_search_minimum_at_the_cap_is_found_not_censored():
    found, s = search_min_width(lambda w: w >= 20, cap=20)
    assert found == 20 and s.stop_reason == "found"


def test_plateau_stops_doubling_when_width_stops_helping():
    s = WidthSearch(cap=4096, plateau=0.1)
    while not s.done:
        ws = s.propose()
        s.update({w: False for w in ws}, {w: 0.5 for w in ws})
    assert s.stop_reason == "plateau" and s.result is None
    assert max(s.probed) == 32  # 1..16, then one doubling

    falling = WidthSearch(cap=256, plateau=0.1)
    while not falling.done:
        ws = falling.propose()
        falling.update({w: False for w in ws}, {w: 1.0 / w for w in ws})
    assert falling.stop_reason == "cap" and max(falling.probed) == 256


def test_search_keeps_a_consistent_bracket_under_noise():
    # 6 passes by luck, 7 fails, everything >= 10 passes
    found, s = search_min_width(lambda w: w == 6 or w >= 10, cap=64)
    assert found is not None and s.probed[found]
    assert all(not s.probed[w] for w in s.probed if s.lo >= w > 0 and w != found)


def test_width_search_rejects_a_cap_below_one():
    with pytest.raises(ValueError, match="cap"):
        WidthSearch(cap=0)


# ---- the importance-sampled relative MSE --------------------------------------------------


@pytest.mark.parametrize("n", [2, 5, 8])
@pytest.mark.parametrize("c", [0.0, 0.5, 0.9])
def test_weighted_mse_estimates_the_relative_mse_without_bias(n, c):
    """f = 1 + c (y - 1) has relative MSE E[(f - y)^2] / Var(y) = (1 - c)^2 exactly."""
    d = product_is_data(n, n_train=200_000, n_test=16, seed=3, dtype=torch.float64)
    est = float(weighted_mse(c * d.y_train[:, :1], d.y_train))
    assert est == pytest.approx((1 - c) ** 2, rel=0.05)
    # the importance weights p/q = column 2 * Var(y) / s^2 lie in (0, 2]
    pq = d.y_train[:, 1] * ((4 / 3) ** n - 1) / d.meta["y_scale"] ** 2
    assert 0 < float(pq.min()) and float(pq.max()) <= 2 + 1e-12
    x = d.x_train + 1
    assert float(x.min()) >= 0 and float(x.max()) <= 2


def test_importance_sampling_matches_plain_monte_carlo_where_that_is_reliable():
    """At n = 3 a plain U[0, 2]^3 sample is reliable: both estimates of a fixed net agree."""
    torch.manual_seed(0)
    net = mlp([3, 8, 1], activation="tanh").double()
    d = product_is_data(3, n_train=200_000, n_test=16, seed=5, dtype=torch.float64)
    scale = d.meta["y_scale"]
    with torch.no_grad():
        is_est = float(weighted_mse(net(d.x_train), d.y_train))
        g = torch.Generator().manual_seed(9)
        x = 2 * torch.rand(400_000, 3, generator=g, dtype=torch.float64)
        y = x.prod(1)
        f = 1 + scale * net(x - 1)[:, 0]
        plain = float(((f - y) ** 2).mean() / ((4 / 3) ** 3 - 1))
    assert is_est == pytest.approx(plain, rel=0.03)


# ---- fit_batched: one dataset per model, a custom test loss -------------------------------


def test_fit_batched_stacked_data_equals_separate_runs():
    torch.manual_seed(0)
    datasets = [
        product_is_data(n, n_train=64, n_test=32, seed=n, dtype=torch.float64) for n in (2, 3)
    ]
    cfg = TrainConfig(optimizer="adam", lr=1e-2, epochs=15, batch_size=16, loss="mse", eval_every=5)

    def make(n, pad):
        torch.manual_seed(n)
        narrow = mlp([n, 5, 1], activation="tanh").double()
        wide = mlp([pad, 5, 1], activation="tanh").double()
        with torch.no_grad():
            for pw, pn in zip(wide.parameters(), narrow.parameters(), strict=True):
                pw.zero_()
                pw[tuple(slice(0, s) for s in pn.shape)] = pn
        return narrow, wide

    pairs = [make(n, 3) for n in (2, 3)]
    gens = [torch.Generator().manual_seed(i) for i in range(2)]

    def pad(x):
        return torch.nn.functional.pad(x, (0, 3 - x.shape[1]))

    stacked = Dataset(
        torch.stack([pad(d.x_train) for d in datasets]),
        torch.stack([d.y_train for d in datasets]),
        torch.stack([pad(d.x_test) for d in datasets]),
        torch.stack([d.y_test for d in datasets]),
        "regression",
        {},
    )
    res = fit_batched(
        [w for _, w in pairs],
        stacked,
        cfg,
        generators=gens,
        loss_fn=weighted_mse,
        eval_loss_fn=weighted_mse,
        stacked_data=True,
    )
    for j, ((narrow, wide), d) in enumerate(zip(pairs, datasets, strict=True)):
        alone = fit_batched(
            [narrow],
            d,
            cfg,
            generators=[torch.Generator().manual_seed(j)],
            loss_fn=weighted_mse,
            eval_loss_fn=weighted_mse,
        )
        w0, n0 = wide[0].weight.detach(), narrow[0].weight.detach()
        assert torch.allclose(w0[:, : n0.shape[1]], n0, atol=1e-10)
        if w0.shape[1] > n0.shape[1]:  # the padded input column stays exactly zero
            assert float(w0[:, n0.shape[1] :].abs().max()) == 0.0
        assert res.finals[j]["test_loss"] == pytest.approx(alone.finals[0]["test_loss"], rel=1e-9)
        with torch.no_grad():
            direct = float(weighted_mse(narrow(d.x_test), d.y_test))
        assert res.finals[j]["test_loss"] == pytest.approx(direct, rel=1e-9)


def test_fit_batched_stacked_data_checks_the_leading_dim():
    d = product_is_data(2, n_train=16, n_test=8, seed=0)
    with pytest.raises(ValueError, match="leading dim"):
        fit_batched(
            [mlp([2, 3, 1], activation="tanh") for _ in range(2)],
            d,
            TrainConfig(epochs=1, loss="mse"),
            loss_fn=weighted_mse,
            stacked_data=True,
        )


# ---- the experiment -----------------------------------------------------------------------


def test_quick_run_has_the_minima_table_beside_the_bounds(tmp_path):
    r = run_experiment("multiplication", {}, out_dir=tmp_path, quick=True)
    mins = r.tables["minimal_neurons"]
    assert set(mins.columns) >= {
        "n",
        "k",
        "min_neurons",
        "found",
        "stop",
        "max_failing_neurons",
        "cap_neurons",
        "bound_thm51",
        "shallow_exact",
        "tree_neurons",
        "deep_monomial",
    }
    assert sorted(mins.n.unique()) == [2, 3, 4]
    assert sorted(mins.k.unique()) == [1, 2]
    row = mins[(mins.n == 4) & (mins.k == 2)].iloc[0]
    assert row.shallow_exact == 16 and row.bound_thm51 == 12 and row.tree_neurons == 12
    assert row.deep_monomial == 16  # sum over 4 inputs of 7 ceil(log2 1) + 4
    # censored rows carry no invented number
    assert mins.loc[~mins.found, "min_neurons"].isna().all()
    assert set(mins.stop) <= {"found", "cap", "plateau"}
    wide = r.tables["minima_by_n"]
    assert list(wide.n) == [2, 3, 4]
    assert {"measured_k1", "measured_k2", "shallow_exact", "thm51_k2", "tree"} <= set(wide)
    probes = r.tables["width_probes"]
    assert {"n", "k", "width", "passed", "best_rel_mse", "seeds"} <= set(probes.columns)
    assert (probes.best_rel_mse > 0).all()
    heat = r.tables["heatmap"]
    assert set(heat.k) == {1, 2} and set(heat.neurons) == {4, 8}
    assert "rolnick-tegmark-2018.learned.shallow-exponential" in {c.id for c in r.claims}


def test_a_small_real_search_finds_a_finite_minimum(tmp_path):
    over = {"ns": [2], "depths": [1], "steps": 300, "n_train": 256, "max_neurons": 16}
    r = run_experiment("multiplication", over, out_dir=tmp_path, quick=True)
    row = r.tables["minimal_neurons"].iloc[0]
    assert bool(row.found) and row.stop == "found"
    assert 1 <= row.min_neurons <= 16
    probes = r.tables["width_probes"]
    passing = probes[probes.passed]
    assert passing.width.min() == row.min_neurons
    assert (passing.best_rel_mse <= 0.01).all()


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"ns": [1, 3]}, ["ns", "[1]", "2 to 24"]),
        ({"ns": [2, 30]}, ["ns", "[30]", "2 to 24"]),
        ({"depths": [0, 2]}, ["depths", "[0]", "1 to 4"]),
        ({"depths": [5]}, ["depths", "[5]", "1 to 4"]),
        ({"ns": []}, ["ns"]),
    ],
)
def test_bad_ns_or_depths_are_config_errors(tmp_path, over, words):
    with pytest.raises(ConfigError) as err:
        run_experiment("multiplication", over, out_dir=tmp_path, quick=True)
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_default_n_range_follows_the_device():
    from depthlab.experiments.multiplication import MultiplicationConfig, default_ns

    assert MultiplicationConfig().ns is None  # resolved from the run's device
    assert default_ns("cpu") == []  # the CPU budget goes to the heat map (the claims)
    assert default_ns(torch.device("cuda")) == list(range(2, 17))
    assert MultiplicationConfig.quick().ns == [2, 3, 4]
