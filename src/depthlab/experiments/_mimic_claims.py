"""The mimic experiment's claims (Ba & Caruana 2014; lecture slide 21).

1. The shallow mimic beats the same shallow net trained on labels.
2. An ensemble teacher helps the mimic further.

Each difference of mean test accuracies is judged against its standard error over seeds
(:func:`se_verdict`): holds above 2 standard errors, fails at or below 0, else inconclusive.
"""

from __future__ import annotations

import math

import numpy as np

from depthlab.core import Claim, verdict_from


def se_verdict(a: np.ndarray, b: np.ndarray) -> tuple[float, float, bool | None]:
    """Difference of means ``a − b``, its standard error, and the verdict rule.

    Holds if the difference exceeds 2 standard errors; fails if it is ≤ 0; else inconclusive.
    """
    diff = float(a.mean() - b.mean())
    se = float(math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)))
    if diff > 2 * se:
        return diff, se, True
    if diff <= 0:
        return diff, se, False
    return diff, se, None


def mimic_claims(
    per_seed: dict[str, np.ndarray],
    label: str,
    ens_acc: float,
    *,
    seeds: int,
    temperature: float,
    extra_inputs: int,
) -> list[Claim]:
    """The two claims from the per-seed test accuracies of each row (keys as in the run:
    ``teacher``, ``label`` (the shallow net on labels), ``mimic_single``, ``mimic_ensemble``,
    ``mimic_kd`` and, if run, ``mimic_extra``); ``ens_acc`` is the ensemble teacher's accuracy."""
    tol = (
        "holds if the difference of mean test accuracies exceeds 2 standard errors "
        f"(over {seeds} seeds each); fails if it is ≤ 0; inconclusive in between "
        "(and, for the first claim, when the teacher is not better than the shallow net)"
    )
    d1, se1, ok1 = se_verdict(per_seed["mimic_single"], per_seed[label])
    d2, se2, ok2 = se_verdict(per_seed["mimic_ensemble"], per_seed["mimic_single"])
    t = per_seed["teacher"].mean()
    snn = per_seed[label].mean()
    if t <= snn:  # the claim presumes a teacher that is better than the shallow net
        ok1 = None
    extra_note = ""
    if ok1 is False:
        bits = [
            f"KD (τ={temperature:g}) from the ensemble: {100 * per_seed['mimic_kd'].mean():.2f}%"
        ]
        if "mimic_extra" in per_seed:
            bits.append(
                f"L2 from the ensemble plus {extra_inputs} augmented inputs: "
                f"{100 * per_seed['mimic_extra'].mean():.2f}%"
            )
        extra_note = (
            " At this scale the L2 student generalises worse than label training (a likely "
            "cause, not tested here: regressing 10 logits on few inputs overfits); for "
            "comparison, "
            + "; ".join(bits)
            + ". Ba & Caruana's students saw far more (unlabelled) inputs than labelled ones."
        )
    c1 = Claim(
        id="ba-caruana-2014.mimic-beats-labels",
        statement="A shallow net trained to mimic a deep teacher's logits beats the same shallow net trained on the labels.",
        source="Ba & Caruana 2014, Table 1; lecture slide 21",
        predicted="mimic accuracy > label accuracy",
        measured=(
            f"{100 * per_seed['mimic_single'].mean():.2f}% vs {100 * snn:.2f}% "
            f"(diff {100 * d1:+.2f} ± {100 * se1:.2f} pts; teacher {100 * t:.2f}%)"
        ),
        tolerance=tol,
        verdict=verdict_from(ok1),
        note=(
            f"The mimic closes {100 * d1 / (t - snn):.0f}% of the {100 * (t - snn):.1f}-point gap "
            "between the shallow net on labels and the CNN teacher." + extra_note
            if t > snn
            else "Inconclusive by construction: the CNN teacher is no better than the shallow "
            "net on labels at this size (undertrained, e.g. --quick), so there is no gap to close."
        ),
    )
    c2 = Claim(
        id="ba-caruana-2014.ensemble-teacher-helps",
        statement="Mimicking an ensemble of deep teachers helps the shallow student further.",
        source="Ba & Caruana 2014, Sec. 3 (ensemble teacher); lecture slide 21",
        predicted="ensemble-mimic accuracy > single-teacher-mimic accuracy",
        measured=(
            f"{100 * per_seed['mimic_ensemble'].mean():.2f}% vs "
            f"{100 * per_seed['mimic_single'].mean():.2f}% (diff {100 * d2:+.2f} ± "
            f"{100 * se2:.2f} pts; ensemble teacher {100 * ens_acc:.2f}%)"
        ),
        tolerance=tol,
        verdict=verdict_from(ok2),
    )
    return [c1, c2]


__all__ = ["mimic_claims", "se_verdict"]
