"""The mimic experiment's claims (Ba & Caruana 2014; lecture slide 21).

Each claim is a difference of mean test accuracies over seeds (the independent unit) with its
95 % interval (:func:`depthlab.evidence.difference`), decided by :func:`depthlab.core.decide`
against a region fixed before the run:

1. ``mimic-beats-labels``: the shallow student mimicking the ensemble's logits on the transfer
   set (the labelled training inputs plus fresh unlabelled MNIST-1D inputs, labelled only by the
   teacher) minus the same shallow net trained on the labels; paired by seed (the same initial
   nets); region ``>= 1`` point (a minimal effect, so a tie never holds).
2. ``ensemble-teacher-helps``: the mimic of the ensemble minus the mimic of one teacher, both on
   the labelled training inputs only; paired by seed; region ``>= 0.5`` point.
3. ``mimic-matches-deep-same-params``: the transfer-set mimic minus the deep MLP with the same
   number of parameters trained on the labels; Welch (different nets); region ``>= -2`` points:
   "approaches the deep net's accuracy" stated as an effect size before the run.
"""

from __future__ import annotations

import numpy as np

from depthlab import evidence
from depthlab.core import Change, Claim, Region

BEATS_ID = "ba-caruana-2014.mimic-beats-labels"
ENSEMBLE_ID = "ba-caruana-2014.ensemble-teacher-helps"
SAME_PARAMS_ID = "ba-caruana-2014.mimic-matches-deep-same-params"
BEATS_MIN = 0.01  # a minimal effect: 1 point (10 of 1000 test inputs), so a tie never holds
ENSEMBLE_MIN = 0.005  # half a point
BEATS_REGION = Region.at_least(BEATS_MIN)
ENSEMBLE_REGION = Region.at_least(ENSEMBLE_MIN)
SAME_PARAMS_MARGIN = 0.02
SAME_PARAMS_REGION = Region.at_least(-SAME_PARAMS_MARGIN)
CHANGED = "2026-12-02"
BEATS_HISTORY = (
    Change(
        CHANGED,
        "design",
        "mimic of one teacher on the same 4,000 labelled inputs; holds above 2 standard errors",
        "mimic of the ensemble on the labelled inputs plus a transfer set of fresh MNIST-1D "
        "inputs labelled only by the teacher; paired t interval over seeds, region >= 1 point",
        "issue 14: Ba & Caruana mimicked on far more unlabelled inputs than labelled ones "
        "(1.1M TIMIT frames); issue 13: one decision rule from an interval",
    ),
)
SEEDS_CHANGE = Change(
    CHANGED,
    "seeds",
    "3 seeds (results: -1.73 [-6.76, 3.29]; -2.00 [-6.83, 2.83]; +0.80 [-0.58, 2.18]; all "
    "inconclusive)",
    "5 seeds; the KD comparison row off by default to pay for them",
    "power, not the outcome: with 3 seeds the t quantile has 2 degrees of freedom (4.30) and "
    "the intervals were about 10 points wide; 5 seeds (2.78, and a smaller standard error) is "
    "issue 13's rule where a seed is cheap; regions, inputs and budgets are unchanged",
)
OLD_DESIGN = (
    "5 seeds; every student at Adam lr 1e-3 (cosine, 60 epochs at batch 128); transfer set "
    "20,000 fresh inputs, 20 epochs at batch 256 (1,880 steps)"
)
NEW_DESIGN = (
    "8 seeds; each row at its learning rate from a validation scan (shallow net on labels 0.1, "
    "deep MLP 0.01, every mimic 0.1); transfer set 50,000 fresh inputs (12.5x the labelled "
    "set), 16 epochs at batch 256 (3,376 steps)"
)
FIT_REASON = (
    "faithfulness and power, not the outcome: at lr 1e-3 every student was undertrained. In a "
    "pilot (teachers of run seed 7) the transfer-set mimic agreed with its teacher on 58% of "
    "its own training inputs (L2 loss 53 per input on logits of std 8), and the shallow net on "
    "labels reached 58% validation accuracy at lr 3e-3 against 69% at its best lr; Ba & "
    "Caruana train every model, mimic or not, as well as they can. A scan on 2,000 fresh "
    "labelled MNIST-1D validation inputs (never the test set; 2 seeds; lr 3e-3, 1e-2, 3e-2, "
    "0.1, 0.3) chose each row's lr: 0.1 for the shallow net on labels and for every mimic, "
    "0.01 for the deep MLP (0.1 diverged). At equal steps 20,000, 50,000 and 100,000 transfer "
    "inputs fitted alike (the 256-unit student, not the inputs, limits the fit), so 50,000 "
    "keeps the transfer set much larger than the labelled set at the CPU budget; 8 seeds give "
    "the t interval 7 degrees of freedom. Regions unchanged."
)


def _design_change(old_result: str) -> Change:
    return Change(CHANGED, "design", f"{OLD_DESIGN} (result: {old_result})", NEW_DESIGN, FIT_REASON)


BEATS_FIT_CHANGE = _design_change("-0.024 [-0.045, -0.003], fails")
SAME_PARAMS_FIT_CHANGE = _design_change("-0.0288 [-0.0507, -0.0069], inconclusive")
ENSEMBLE_FIT_CHANGE = _design_change("+0.010 [0.003, 0.017], inconclusive")


def _pts(x: float) -> str:
    return f"{100 * x:+.2f} pts"


def _fit(agreement: dict[str, tuple[float, float]] | None, key: str) -> str:
    if not agreement or key not in agreement:
        return ""
    test, own = agreement[key]
    return (
        f" This mimic agrees with its teacher on {100 * test:.1f}% of the test inputs and "
        f"{100 * own:.1f}% of its own training inputs (how well it fits the teacher)."
    )


def mimic_claims(
    per_seed: dict[str, np.ndarray],
    label: str,
    deep: str,
    ens_acc: float,
    *,
    design: str,
    agreement: dict[str, tuple[float, float]] | None = None,
) -> list[Claim]:
    """The claims from the per-seed test accuracies of each row. Keys: ``teacher``, ``label``
    (the shallow net on labels), ``deep`` (the same-parameter deep MLP on labels),
    ``mimic_single``, ``mimic_ensemble`` and ``mimic_transfer`` (the transfer set; else
    ``mimic_extra``, augmented inputs, where the dataset has no generator of fresh inputs).
    ``agreement`` maps a mimic row to its mean argmax agreement with its teacher on the test
    inputs and on its own training inputs; the notes report it."""
    claims: list[Claim] = []
    snn = per_seed[label]
    t = float(per_seed["teacher"].mean())
    source = "mimic_transfer" if "mimic_transfer" in per_seed else "mimic_extra"
    if source in per_seed:  # without fresh inputs (digits, CIFAR-10): augmented ones
        mt = per_seed[source]
        if source == "mimic_extra":
            design += (
                " This dataset has no generator of fresh inputs: the mimic's extra inputs are "
                "augmented copies of the training inputs, labelled by the ensemble."
            )
        est = evidence.difference(
            mt, snn, paired=True, statistic="mimic minus labels, test accuracy"
        )
        claims.append(
            evidence.empirical(
                BEATS_ID,
                "A shallow net trained to mimic a deep teacher's logits, on inputs the teacher labels, beats the same shallow net trained on the labels.",
                "Ba & Caruana 2014, Table 1 and Sec. 2; lecture slide 21",
                est,
                BEATS_REGION,
                predicted=f">= {BEATS_MIN}",
                measured=f"{100 * mt.mean():.2f}% vs {100 * snn.mean():.2f}% ({_pts(est.value)}; CNN teacher {100 * t:.2f}%)",
                tolerance=f"95% paired t interval over seeds of the accuracy difference >= {100 * BEATS_MIN:g} point (a minimal effect fixed before the run)",
                note=design
                + f" The mimic closes {100 * (mt.mean() - snn.mean()) / max(t - snn.mean(), 1e-9):.0f}% of the gap between the shallow net on labels and one CNN teacher."
                + _fit(agreement, source),
                history=(*BEATS_HISTORY, SEEDS_CHANGE, BEATS_FIT_CHANGE),
            )
        )
        dn = per_seed[deep]
        est = evidence.difference(mt, dn, statistic="mimic minus same-parameter deep MLP")
        claims.append(
            evidence.empirical(
                SAME_PARAMS_ID,
                "A shallow mimic net with the same number of parameters as a deep net approaches the deep net's accuracy (within 2 points or better).",
                "Ba & Caruana 2014, Table 1 (SNN-MIMIC vs DNN); lecture slide 21",
                est,
                SAME_PARAMS_REGION,
                predicted=f">= {-SAME_PARAMS_MARGIN}",
                measured=f"{100 * mt.mean():.2f}% vs {100 * dn.mean():.2f}% ({_pts(est.value)})",
                tolerance=f"95% Welch interval over seeds of the accuracy difference >= -{100 * SAME_PARAMS_MARGIN:g} points (an effect size fixed before the run)",
                note=design
                + " The deep MLP has 3 hidden layers whose width matches the shallow net's parameter count within 5%; it is trained on the labels, as Ba & Caruana's DNN."
                + _fit(agreement, source),
                history=(SEEDS_CHANGE, SAME_PARAMS_FIT_CHANGE),
            )
        )
    me, ms = per_seed["mimic_ensemble"], per_seed["mimic_single"]
    est = evidence.difference(me, ms, paired=True, statistic="ensemble mimic minus single mimic")
    claims.append(
        evidence.empirical(
            ENSEMBLE_ID,
            "Mimicking an ensemble of deep teachers helps the shallow student further.",
            "Ba & Caruana 2014, Sec. 3 (ensemble teacher); lecture slide 21",
            est,
            ENSEMBLE_REGION,
            predicted=f">= {ENSEMBLE_MIN}",
            measured=f"{100 * me.mean():.2f}% vs {100 * ms.mean():.2f}% ({_pts(est.value)}; ensemble teacher {100 * ens_acc:.2f}%)",
            tolerance=f"95% paired t interval over seeds of the accuracy difference >= {100 * ENSEMBLE_MIN:g} point (a minimal effect fixed before the run)",
            note=design
            + " Both mimics train on the labelled training inputs only."
            + _fit(agreement, "mimic_ensemble"),
            history=(SEEDS_CHANGE, ENSEMBLE_FIT_CHANGE),
        )
    )
    return claims


__all__ = [
    "BEATS_ID",
    "ENSEMBLE_ID",
    "SAME_PARAMS_ID",
    "SAME_PARAMS_MARGIN",
    "mimic_claims",
]
