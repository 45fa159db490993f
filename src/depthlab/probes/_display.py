"""Re-export of :mod:`depthlab._display` (the notebook display mixin lives in the bottom layer so the
training engines, which sit below the probes, can use it too)."""

from depthlab._display import MAX_ROWS, FrameRepr

__all__ = ["MAX_ROWS", "FrameRepr"]
