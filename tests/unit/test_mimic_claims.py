"""The mimic claims at their third design (issue 14): 8 seeds, each claim fed data for which it
must hold and data for which it must fail, with the numbers asserted; the design pinned; the
mimic's fit to its teacher measured."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from depthlab import nets
from depthlab.data.base import Dataset
from depthlab.experiments import _mimic_claims as mc
from depthlab.experiments._mimic_config import MimicConfig
from depthlab.experiments.mimic import MimicLearning
from depthlab.init import initialize
from depthlab.mimic import Teacher, mimic
from depthlab.train import TrainConfig

# 8 seeds of a shallow net on labels (per-seed test accuracy), and per-seed offsets that keep
# the paired differences from being constant (their sd is 0.0022).
SNN = np.array([0.672, 0.684, 0.662, 0.674, 0.651, 0.679, 0.646, 0.661])
JITTER = np.array([0.002, -0.001, 0.003, -0.002, 0.0, 0.001, -0.003, 0.0])


def _claims(**rows) -> dict:
    per_seed = {
        "teacher": np.full(8, 0.84),
        "SNN": SNN,
        "deep": SNN - 0.02 + JITTER[::-1],
        "mimic_single": SNN + 0.03,
        "mimic_ensemble": SNN + 0.06 + JITTER,
        "mimic_transfer": SNN + 0.10 + JITTER,
    }
    per_seed.update({k: np.asarray(v) for k, v in rows.items()})
    agreement = {"mimic_transfer": (0.83, 0.87), "mimic_ensemble": (0.78, 0.9)}
    claims = mc.mimic_claims(per_seed, "SNN", "deep", 0.89, design="d.", agreement=agreement)
    return {c.id: c for c in claims}


def test_every_claim_holds_on_ba_caruana_like_numbers():
    c = _claims()
    beats, same, ens = c[mc.BEATS_ID], c[mc.SAME_PARAMS_ID], c[mc.ENSEMBLE_ID]
    assert (beats.verdict, same.verdict, ens.verdict) == ("holds", "holds", "holds")
    assert beats.estimate == pytest.approx(0.10)
    assert beats.interval[0] == pytest.approx(0.10 - 2.3646 * 0.0020 / np.sqrt(8), abs=2e-4)
    assert ens.estimate == pytest.approx(0.03) and ens.interval[0] > 0.025
    assert same.estimate == pytest.approx(0.12) and same.interval[0] > 0.09
    assert "87.0% of its own training inputs" in beats.note


def test_mimic_beats_labels_fails_when_the_mimic_is_not_better():
    c = _claims(mimic_transfer=SNN - 0.02 + JITTER)
    assert c[mc.BEATS_ID].verdict == "fails"
    assert c[mc.BEATS_ID].estimate == pytest.approx(-0.02)
    assert c[mc.BEATS_ID].interval[1] < 0.0
    # a tie fails too: the region asks for at least one point
    assert _claims(mimic_transfer=SNN + JITTER)[mc.BEATS_ID].verdict == "fails"


def test_same_params_claim_fails_three_points_below_the_deep_net():
    deep = 0.69 + JITTER[::-1]  # different nets: Welch, so both spreads count
    c = _claims(deep=deep, mimic_transfer=0.66 + JITTER)
    assert c[mc.SAME_PARAMS_ID].verdict == "fails"
    assert c[mc.SAME_PARAMS_ID].estimate == pytest.approx(-0.03)
    assert c[mc.SAME_PARAMS_ID].interval[1] < -0.02
    # one point below the deep net is within the margin: holds
    c = _claims(deep=deep, mimic_transfer=0.68 + JITTER)
    assert c[mc.SAME_PARAMS_ID].verdict == "holds"


def test_ensemble_claim_fails_when_the_ensemble_mimic_is_no_better():
    c = _claims(mimic_ensemble=SNN + 0.03 + JITTER)  # the same as the single-teacher mimic
    assert c[mc.ENSEMBLE_ID].verdict == "fails"
    assert c[mc.ENSEMBLE_ID].estimate == pytest.approx(0.0, abs=1e-9)
    assert c[mc.ENSEMBLE_ID].interval[1] < mc.ENSEMBLE_REGION.lo


def test_noisy_seeds_leave_a_small_effect_inconclusive():
    noise = np.array([0.03, -0.03, 0.02, -0.02, 0.01, -0.01, 0.025, -0.025])
    c = _claims(mimic_transfer=SNN + 0.02 + noise)
    assert c[mc.BEATS_ID].verdict == "inconclusive"
    lo, hi = c[mc.BEATS_ID].interval
    assert lo < mc.BEATS_MIN < hi


def test_the_design_change_records_the_old_design_and_its_results():
    c = _claims()
    for cid, old in (
        (mc.BEATS_ID, "-0.024 [-0.045, -0.003], fails"),
        (mc.SAME_PARAMS_ID, "-0.0288 [-0.0507, -0.0069], inconclusive"),
        (mc.ENSEMBLE_ID, "+0.010 [0.003, 0.017], inconclusive"),
    ):
        last = c[cid].history[-1]
        assert last.date == "2026-12-02" and last.field == "design"
        assert "lr 1e-3" in last.old and old in last.old
        assert "8 seeds" in last.new and "50,000" in last.new
        assert "validation" in last.reason and "not the outcome" in last.reason


def test_the_default_design_is_pinned():
    cfg = MimicConfig()
    assert (cfg.seeds, cfg.lr, cfg.deep_lr, cfg.mimic_lr) == (8, 0.1, 0.01, 0.1)
    assert (cfg.transfer_inputs, cfg.transfer_epochs, cfg.transfer_batch_size) == (50_000, 16, 256)
    assert (cfg.shallow_width, cfg.student_epochs, cfg.batch_size) == (256, 60, 128)
    design = MimicLearning._design(cfg, 69)
    for part in ("8 seeds", "labels 0.1", "mimics 0.1", "lr 0.01", "50000 fresh inputs"):
        assert part in design


def _toy_data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 6, generator=g)
    y = x[:, :3].argmax(1)
    return Dataset(x[:200], y[:200], x[200:], y[200:], "classification", {"num_classes": 3})


def test_a_student_that_is_the_teacher_fits_it_everywhere():
    data = _toy_data()
    teacher = initialize(nets.mlp([6, 8, 3]), "he_normal", torch.Generator().manual_seed(1))
    with torch.no_grad():  # no exact ties (an input whose units are all dead gives 0, 0, 0)
        teacher[-1].bias.copy_(torch.tensor([0.3, 0.2, 0.1]))
    student = copy.deepcopy(teacher)
    extra = torch.randn(50, 6, generator=torch.Generator().manual_seed(2))
    r = mimic(
        [student], Teacher(teacher), data, TrainConfig(lr=1e-12, epochs=1), extra_inputs=extra
    )
    assert r.fit_agreement == [1.0] and r.agreement == [1.0]
    assert r.to_frame().fit_agreement.tolist() == [1.0]


def test_fit_agreement_is_the_share_of_training_inputs_where_argmaxes_match():
    data = _toy_data()
    teacher = initialize(nets.mlp([6, 8, 3]), "he_normal", torch.Generator().manual_seed(1))
    student = nets.mlp([6, 4, 3])
    with torch.no_grad():  # a student that always says class 0
        for p in student.parameters():
            p.zero_()
        student[-1].bias.copy_(torch.tensor([5.0, 0.0, 0.0]))
    r = mimic([student], teacher, data, TrainConfig(lr=1e-12, epochs=1))
    want = float((Teacher(teacher).logits(data.x_train).argmax(1) == 0).float().mean())
    assert 0.0 < want < 1.0
    assert r.fit_agreement[0] == pytest.approx(want)
