"""The layer-semantics table (pl.LAYERS / layer_rule) against the modules themselves, and
site_visits (the one way the engines stop a forward at a site)."""

import pytest
import torch
from torch import nn

from depthlab import pl
from depthlab.nets.activations import Abs

ELEMENTWISE = [
    nn.ReLU(),
    nn.LeakyReLU(0.1),
    nn.Hardtanh(-0.5, 0.7),
    nn.ReLU6(),
    Abs(),
]


def test_every_supported_layer_has_one_rule_and_the_tuples_come_from_the_table():
    assert set(pl.SUPPORTED_LAYERS) == set(pl.LAYERS)
    kinds = {r.kind for r in pl.LAYERS.values()}
    assert kinds == {"affine", "elementwise", "pool"}
    assert set(pl.AFFINE_LAYERS) | set(pl.THRESHOLD_LAYERS) | set(pl.POOL_LAYERS) == set(pl.LAYERS)
    assert set(pl.SITE_LAYERS) == {t for t, r in pl.LAYERS.items() if r.site}
    assert pl.layer_rule(nn.ReLU6()) is pl.LAYERS[nn.Hardtanh]  # a subclass uses its base's rule
    with pytest.raises(pl.UnsupportedLayerError, match="Tanh"):
        pl.layer_rule(nn.Tanh())
    assert pl.find_rule(nn.Tanh()) is None


@pytest.mark.parametrize("mod", ELEMENTWISE, ids=lambda m: type(m).__name__)
def test_elementwise_rules_match_the_module(mod):
    g = torch.Generator().manual_seed(0)
    z = 3.0 * torch.randn(4, 50, generator=g, dtype=torch.float64)
    rule = pl.layer_rule(mod)
    kinks = rule.kinks(mod)
    # slopes: the module's own finite-difference slope away from the kinks
    h = 1e-7
    fd = (mod(z + h) - mod(z - h)) / (2 * h)
    away = torch.ones_like(z, dtype=torch.bool)
    for c in kinks:
        away &= (z - c).abs() > 1e-3
    assert int(away.sum()) > 150
    torch.testing.assert_close(rule.slopes(mod, z)[away], fd[away], rtol=0, atol=1e-6)
    # states: the number of kinks below the input, and the state changes exactly at a kink
    st = rule.states(mod, z)
    assert st.dtype == torch.int8 and st.shape == (4, 50)
    assert torch.equal(st.long(), sum((z > c).long() for c in kinks))
    # the in-place forward equals the module on a copy
    assert torch.equal(rule.apply_(mod, z.clone()), mod(z))
    assert pl.thresholds(mod) == kinks


def test_pool_rule_states_are_the_winners_and_crossings_find_the_tie():
    mod = nn.MaxPool1d(2)
    z = torch.tensor([[[1.0, 3.0, 5.0, 2.0]], [[4.0, 2.0, 1.0, 6.0]]], dtype=torch.float64)
    rule = pl.layer_rule(mod)
    assert rule.kind == "pool" and rule.rank == 2 and rule.slopes is None
    assert rule.states(mod, z).tolist() == [[1, 2], [0, 3]]
    i, s = rule.crossings(z, mod, torch.tensor([True]), pl.EPS)
    # window 0: 1 - 3 -> 4 - 2, the winner changes where (1-3) + s((4-2)-(1-3)) = 0: s = 1/2;
    # window 1: 5 - 2 -> 1 - 6 at s = 3 / 8
    assert i.tolist() == [0, 0]
    assert sorted(s.tolist()) == pytest.approx([3 / 8, 1 / 2])


def test_input_rank_is_read_from_the_first_rank_fixing_layer():
    assert pl.input_rank(nn.Sequential(nn.ReLU(), nn.Linear(3, 2))) == 1
    assert pl.input_rank(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())) == 3
    assert pl.input_rank(nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU())) == 2
    assert pl.input_rank(nn.Sequential(nn.Flatten(), nn.Linear(4, 2))) is None
    assert pl.input_rank(nn.Sequential(nn.Tanh(), nn.Linear(4, 2))) is None


def test_site_visits_stop_the_forward_at_the_asked_site_with_its_input():
    g = torch.Generator().manual_seed(1)
    net = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 3), nn.Hardtanh(), nn.Linear(3, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    x = torch.randn(7, 2, generator=g, dtype=torch.float64)
    prep = pl.prepare(net, x[0])
    seen = []

    def visit(k, mod, z):
        seen.append((k, type(mod).__name__))
        return z.clone() if k == 1 else None

    with pl.site_visits(prep, visit) as run:
        got = run(x)
    assert isinstance(got, pl.Stopped) and got.site == 1
    assert seen == [(0, "ReLU"), (1, "Hardtanh")]
    want = prep.net[2](prep.net[1](prep.net[0](x)))  # the Hardtanh's input
    torch.testing.assert_close(got.value, want, rtol=0, atol=0)
    with pl.site_visits(prep, lambda k, m, z: None) as run:
        out = run(x)
    torch.testing.assert_close(out, prep.net(x), rtol=0, atol=0)
    # the hooks are gone after the block: a plain forward visits nothing
    seen.clear()
    prep.net(x)
    assert seen == []
