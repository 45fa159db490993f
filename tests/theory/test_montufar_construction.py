"""Montúfar et al.'s folding construction: count_2d gives exactly the formula's regions."""

import math

import pytest
import torch

from depthlab import regions
from depthlab.nets.constructions import montufar, montufar_lines
from depthlab.theory import regions as bounds


@pytest.mark.parametrize(("p", "folds", "last"), [(2, 0, 4), (2, 3, 4), (3, 2, 6), (4, 1, 5)])
def test_exact_count_equals_the_formula(p, folds, last):
    net = montufar(p, folds, last)
    r = regions.count_2d(net, window=(0.0, 1.0, 0.0, 1.0), patterns=False)
    want = p ** (2 * folds) * (1 + last + math.comb(last, 2))
    assert r.n_regions == want == bounds.montufar_construction_count(p, folds, last)
    assert want == bounds.montufar_lower(2, [2 * p] * folds + [last])
    assert sum(r.areas.tolist()) == pytest.approx(1.0, abs=1e-12)


def test_the_folds_map_each_cell_onto_the_square():
    # two folding layers with p = 3: the folded x coordinate is a zigzag with 9 teeth
    net = montufar(3, 2, 1)
    fold = net[:4]  # two Linear+ReLU pairs
    x = torch.linspace(0, 1, 9 * 8 + 1, dtype=torch.float64)
    with torch.no_grad():
        h = fold(torch.stack([x, torch.zeros_like(x)], 1))
    comb = torch.tensor([1.0, -2.0, 2.0], dtype=torch.float64)
    f = h[:, :3] @ comb - 1.0
    assert float(f.min()) == pytest.approx(0.0, abs=1e-12)
    assert float(f.max()) == pytest.approx(1.0, abs=1e-12)
    assert torch.allclose(f[::8], torch.tensor([0.0, 1.0] * 5, dtype=torch.float64))


def test_lines_cross_inside_the_square_in_general_position():
    w, b = montufar_lines(7)
    pts = []
    for i in range(7):
        for j in range(i):
            a = torch.stack([w[i], w[j]])
            pts.append(torch.linalg.solve(a, -torch.stack([b[i], b[j]])))
    pts = torch.stack(pts)
    assert bool(((pts > 0.25) & (pts < 0.75)).all())
    assert torch.cdist(pts, pts).add(torch.eye(len(pts), dtype=pts.dtype)).min() > 1e-3


def test_gap_grows_exponentially_with_depth():
    gaps = [bounds.montufar_shallow_gap(3, f, 6) for f in range(6)]
    assert gaps[0] == 1.0 and all(b > a for a, b in zip(gaps, gaps[1:], strict=False))
    assert gaps[4] == pytest.approx(144342 / 466)
    with pytest.raises(ValueError):
        bounds.montufar_construction_count(0, 1, 3)
