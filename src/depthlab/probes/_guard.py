"""The probe guard, as the probes import it: see :mod:`depthlab._guard`.

The implementation sits in the bottom layer (it needs only torch and :mod:`depthlab.numerics`)
because the engines below the probes use it too: :func:`depthlab.train.evaluate`,
:meth:`depthlab.mimic.Teacher.logits` and :func:`depthlab.pl.prepare`.
"""

from depthlab._guard import (
    NonFiniteError,
    ProbeIntegrityError,
    autodiff_safe,
    check_result,
    first_nonfinite_tensor,
    guard_probe,
    guarded,
    math_attention,
    raise_if_nonfinite,
)

__all__ = [
    "NonFiniteError",
    "ProbeIntegrityError",
    "autodiff_safe",
    "check_result",
    "first_nonfinite_tensor",
    "guard_probe",
    "guarded",
    "math_attention",
    "raise_if_nonfinite",
]
