"""Public name ``depthlab.trajectory``: curve length and curvature through a network.

See :mod:`depthlab.probes.trajectory` for the method and references.
"""

from depthlab.probes.trajectory import (
    Curve,
    TrajectoryResult,
    closed_curve,
    great_circle,
    length,
    mlp_lengths,
    segment,
)

__all__ = [
    "Curve",
    "TrajectoryResult",
    "closed_curve",
    "great_circle",
    "length",
    "mlp_lengths",
    "segment",
]
