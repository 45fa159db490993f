import math

import pytest
import torch

from depthlab.experiments.resnet_degradation import _grad_ratio
from depthlab.init import initialize
from depthlab.nets import resnet1d
from depthlab.runs import run_experiment
from depthlab.testing import unchanged

#: a seconds-long design: two depths, two seeds, one epoch
TINY = {
    "blocks": [1, 2],
    "ref_blocks": 1,
    "seeds": 2,
    "channels": 4,
    "epochs": 1,
    "n_train": 64,
    "n_test": 32,
}


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
        TINY,
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
    claims = _claims(_table(plain_ref=0.5, plain_deep=1.5, res_ref=0.5, res_deep=0.3, seeds=8))
    assert {c.verdict for c in claims.values()} == {"holds"}
    c = claims["he-2016.plain-degrades"]
    assert c.kind == "empirical" and c.n == 8 and c.unit == "seeds"
    assert c.estimate == pytest.approx(3.0, rel=0.1) and c.region.lo == 1.1


def test_degradation_claims_fail_when_depth_does_not_hurt_plain_nets_and_hurts_residual_ones():
    claims = _claims(_table(plain_ref=0.5, plain_deep=0.5, res_ref=0.3, res_deep=0.6, seeds=8))
    assert claims["he-2016.plain-degrades"].verdict == "fails"
    assert claims["he-2016.residual-no-degradation"].verdict == "fails"
    assert claims["he-2016.shortcuts-win-at-depth"].verdict == "fails"


def test_a_single_seed_cannot_decide():
    claims = _claims(_table(0.5, 1.5, 0.5, 0.3, seeds=1))
    assert {c.verdict for c in claims.values()} == {"inconclusive"}


def test_five_seeds_are_too_few_for_a_95_percent_signed_rank_interval():
    # P(T = 0) = 1/32 > 0.025 at n = 5: the residual claim has no interval; the t claims do
    claims = _claims(_table(0.5, 1.5, 0.5, 0.3, seeds=5))
    assert claims["he-2016.residual-no-degradation"].interval is None
    assert claims["he-2016.residual-no-degradation"].verdict == "inconclusive"
    assert claims["he-2016.plain-degrades"].verdict == "holds"


def _eight_seed_table(res_log_ratios):
    """8 seeds; the per-seed log ratio of residual losses (16 / 4 blocks) is given; the plain
    nets degrade 2.5x and lose 2.5x+ to the residual ones in every seed."""
    import numpy as np
    import pandas as pd

    rows = []
    for s, lr in enumerate(res_log_ratios):
        res_ref = 0.3 * (1 + 0.1 * s)
        res_deep = res_ref * float(np.exp(lr))
        for skip, blocks, loss in (
            (False, 4, 0.6 * (1 + 0.1 * s)),
            (False, 16, 1.5 * (1 + 0.1 * s) * max(1.0, res_deep / 0.3)),
            (True, 4, res_ref),
            (True, 16, res_deep),
        ):
            rows.append({"blocks": blocks, "skip": skip, "seed": s, "train_loss": loss})
    return pd.DataFrame(rows)


def _walsh_interval(logs):
    """Brute force: the median, 4th smallest and 4th largest of the 36 Walsh averages (n = 8)."""
    import itertools

    import numpy as np

    w = sorted((a + b) / 2 for a, b in itertools.combinations_with_replacement(logs, 2))
    return math.exp(float(np.median(w))), math.exp(w[3]), math.exp(w[-4])


def test_residual_claim_holds_with_seven_of_eight_seeds_below_and_one_stalled():
    logs = [-1.3, -1.1, -0.8, -0.55, -0.5, -0.3, -0.25, 0.4]
    c = _claims(_eight_seed_table(logs))["he-2016.residual-no-degradation"]
    est, lo, hi = _walsh_interval(logs)
    assert c.n == 8 and c.unit == "seeds" and c.method.startswith("Hodges-Lehmann")
    assert c.estimate == pytest.approx(est) == pytest.approx(math.exp(-0.5375))
    assert c.interval == pytest.approx((lo, hi))
    # upper end: the 4th largest Walsh average is (0.4 - 0.5) / 2 = -0.05
    assert hi == pytest.approx(math.exp(-0.05)) and lo == pytest.approx(math.exp(-1.05))
    assert c.verdict == "holds" and c.region.hi == 1.1
    assert c.history[-1].field == "statistic" and "0.714 [0.327, 1.56]" in c.history[-1].old
    assert "Hodges-Lehmann" in c.note and "8 seeds" in c.note


def test_residual_claim_is_inconclusive_when_one_seed_stalls_as_badly_as_seed_7():
    # the stated limit: a +1.71 stall sets the upper end at (1.71 + 3rd largest other) / 2
    logs = [-1.3, -1.1, -0.8, -0.55, -0.5, -0.3, -0.25, 1.71]
    c = _claims(_eight_seed_table(logs))["he-2016.residual-no-degradation"]
    assert c.interval[1] == pytest.approx(math.exp((1.71 - 0.5) / 2))
    assert c.verdict == "inconclusive"


def test_residual_claim_fails_when_deep_residual_nets_are_worse_in_most_seeds():
    logs = [0.9, 0.7, 0.5, 1.2, 0.4, 0.6, -0.2, 0.8]
    c = _claims(_eight_seed_table(logs))["he-2016.residual-no-degradation"]
    est, lo, hi = _walsh_interval(logs)
    assert c.estimate == pytest.approx(est) == pytest.approx(math.exp(0.65))
    assert c.interval == pytest.approx((lo, hi))
    assert c.interval[0] == pytest.approx(math.exp(0.2)) and c.interval[0] > 1.1
    assert c.verdict == "fails"


def test_residual_claim_is_inconclusive_on_noise_around_one():
    logs = [-0.5, -0.3, -0.1, 0.0, 0.1, 0.2, 0.35, 0.5]
    c = _claims(_eight_seed_table(logs))["he-2016.residual-no-degradation"]
    _, lo, hi = _walsh_interval(logs)
    assert c.interval == pytest.approx((lo, hi)) and lo < 1 < 1.1 < hi
    assert c.verdict == "inconclusive"


def test_the_other_claims_keep_the_paired_t_and_record_the_fresh_draws():
    c = _claims(_eight_seed_table([-0.5] * 7 + [0.3]))
    plain, wins = c["he-2016.plain-degrades"], c["he-2016.shortcuts-win-at-depth"]
    assert plain.method == wins.method == "paired t on logs"
    assert plain.verdict == wins.verdict == "holds"
    assert plain.history[-1].field == "draws" and "14.3 [8.80, 23.1]" in plain.history[-1].old
    assert wins.history[-1].field == "draws" and "23.9 [11.0, 52.0]" in wins.history[-1].old


def test_confirmatory_and_exploratory_draws_give_different_nets(tmp_path):
    cfg = TINY
    conf = run_experiment("resnet-degradation", cfg, out_dir=tmp_path / "c")
    expl = run_experiment(
        "resnet-degradation", {**cfg, "draws": "exploratory"}, out_dir=tmp_path / "e"
    )
    assert conf.config["draws"] == "confirmatory"
    a, b = conf.tables["nets"]["train_loss"], expl.tables["nets"]["train_loss"]
    assert not (a.to_numpy() == b.to_numpy()).all()
