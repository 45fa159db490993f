"""Public name for the signal-propagation probe: ``depthlab.signal.moments`` (see probes/signal.py)."""

from depthlab.probes.signal import (
    ENGINES,
    GAUSSIAN_SCHEMES,
    SignalMoments,
    draw_weights,
    model_moments,
    moments,
)

__all__ = [
    "ENGINES",
    "GAUSSIAN_SCHEMES",
    "SignalMoments",
    "draw_weights",
    "model_moments",
    "moments",
]
