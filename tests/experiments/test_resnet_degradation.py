import math

import pytest
import torch

from depthlab.experiments.resnet_degradation import _grad_ratio
from depthlab.init import initialize
from depthlab.nets import resnet1d
from depthlab.runs import run_experiment
from depthlab.testing import unchanged


def test_grad_ratio_is_the_norm_ratio_and_leaves_the_net_alone():
    net = resnet1d(blocks=2, channels=4, skip=False).eval()
    initialize(net, "he_normal", torch.Generator().manual_seed(0))
    x, y = torch.randn(16, 40, generator=torch.Generator().manual_seed(1)), torch.arange(16) % 10
    with unchanged(net):
        r = _grad_ratio(net, x, y)
    ref = resnet1d(blocks=2, channels=4, skip=False)
    ref.load_state_dict(net.state_dict())
    ref.train()
    loss = torch.nn.functional.cross_entropy(ref(x), y)
    loss.backward()
    assert math.isclose(
        r, float(ref.stem[0].weight.grad.norm() / ref.fc.weight.grad.norm()), rel_tol=1e-5
    )


def test_degradation_experiment_tiny_run(tmp_path):
    res = run_experiment(
        "resnet-degradation",
        {
            "blocks": [1, 2],
            "ref_blocks": 1,
            "seeds": 2,
            "channels": 4,
            "epochs": 1,
            "n_train": 64,
            "n_test": 32,
        },
        out_dir=tmp_path,
    )
    t = res.tables["nets"]
    assert sorted(set(t["blocks"])) == [1, 2] and set(t["skip"]) == {True, False}
    assert (t["conv_layers"] == 2 * t["blocks"] + 1).all()
    assert t["train_loss"].between(0, 20).all() and t["grad_ratio_init"].gt(0).all()
    assert [c.id for c in res.claims] == [
        "he-2016.plain-degrades",
        "he-2016.residual-no-degradation",
        "he-2016.shortcuts-win-at-depth",
    ]
    assert (tmp_path / res.figures["degradation"]).stat().st_size > 0


def _table(plain_ref, plain_deep, res_ref, res_deep, seeds=3, spread=0.03):
    """A per-net table with mean final training losses per (skip, blocks) and small seed noise."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for skip, blocks, mu in (
        (False, 4, plain_ref),
        (False, 16, plain_deep),
        (True, 4, res_ref),
        (True, 16, res_deep),
    ):
        for s in range(seeds):
            loss = mu * float(np.exp(rng.normal(0, spread)))
            rows.append({"blocks": blocks, "skip": skip, "seed": s, "train_loss": loss})
    return pd.DataFrame(rows)


def _claims(table):
    from depthlab.experiments.resnet_degradation import DegradationConfig, degradation_claims

    return {c.id: c for c in degradation_claims(table, DegradationConfig())}


def test_degradation_claims_hold_when_plain_nets_degrade_and_shortcuts_fix_it():
    claims = _claims(_table(plain_ref=0.5, plain_deep=1.5, res_ref=0.5, res_deep=0.3))
    assert {c.verdict for c in claims.values()} == {"holds"}
    c = claims["he-2016.plain-degrades"]
    assert c.kind == "empirical" and c.n == 3 and c.unit == "seeds"
    assert c.estimate == pytest.approx(3.0, rel=0.1) and c.region.lo == 1.1


def test_degradation_claims_fail_when_depth_does_not_hurt_plain_nets_and_hurts_residual_ones():
    claims = _claims(_table(plain_ref=0.5, plain_deep=0.5, res_ref=0.3, res_deep=0.6))
    assert claims["he-2016.plain-degrades"].verdict == "fails"
    assert claims["he-2016.residual-no-degradation"].verdict == "fails"
    assert claims["he-2016.shortcuts-win-at-depth"].verdict == "fails"


def test_a_single_seed_cannot_decide():
    claims = _claims(_table(0.5, 1.5, 0.5, 0.3, seeds=1))
    assert {c.verdict for c in claims.values()} == {"inconclusive"}


def _eight_seed_table(res_deep_over_ref: float, log_spread: float = 0.4):
    """8 seeds; the per-seed log ratio of residual losses (16 / 4 blocks) is
    log(res_deep_over_ref) plus fixed offsets of standard deviation ``log_spread`` (the
    previous 4-seed run's spread), so the paired interval is known exactly."""
    import numpy as np
    import pandas as pd

    z = np.array([-1.5, -1.0, -0.5, -0.2, 0.2, 0.5, 1.0, 1.5])
    z = z / z.std(ddof=1) * log_spread
    rows = []
    for s in range(8):
        res_ref = 0.3 * (1 + 0.1 * s)
        res_deep = res_ref * res_deep_over_ref * float(np.exp(z[s]))
        for skip, blocks, loss in (
            (False, 4, 0.6 * (1 + 0.1 * s)),
            (False, 16, 1.5 * (1 + 0.1 * s)),
            (True, 4, res_ref),
            (True, 16, res_deep),
        ):
            rows.append({"blocks": blocks, "skip": skip, "seed": s, "train_loss": loss})
    return pd.DataFrame(rows)


def test_residual_claim_at_eight_seeds_holds_when_deep_residual_nets_fit_better():
    import math

    c = _claims(_eight_seed_table(0.6))["he-2016.residual-no-degradation"]
    assert c.n == 8 and c.estimate == pytest.approx(0.6)
    # paired t on logs: half-width t(7) * 0.4 / sqrt(8) = 2.365 * 0.1414 = 0.3344
    lo, hi = c.interval
    assert math.log(hi / 0.6) == pytest.approx(0.3344, abs=1e-3)
    assert math.log(0.6 / lo) == pytest.approx(0.3344, abs=1e-3)
    assert hi < 1.1 and c.verdict == "holds"
    assert "8 seeds" in c.note and c.history[-1].new.startswith("8 seeds, 12 epochs")


def test_residual_claim_at_eight_seeds_fails_when_deep_residual_nets_degrade():
    c = _claims(_eight_seed_table(2.0))["he-2016.residual-no-degradation"]
    assert c.estimate == pytest.approx(2.0)
    assert c.interval[0] == pytest.approx(2.0 * 0.7158, abs=1e-3)  # exp(-0.3344)
    assert c.verdict == "fails"


def test_residual_claim_at_eight_seeds_is_inconclusive_on_the_margin():
    c = _claims(_eight_seed_table(1.0))["he-2016.residual-no-degradation"]
    assert c.estimate == pytest.approx(1.0) and c.verdict == "inconclusive"
