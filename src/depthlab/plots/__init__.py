"""Figures from saved Results (tables only: plots never recompute and never train)."""

from depthlab.plots.common import VERDICT_COLORS, new_figure, save_figure, save_note, save_plotly

__all__ = ["VERDICT_COLORS", "new_figure", "save_figure", "save_note", "save_plotly"]
