"""Figures from saved Results (tables only: plots never recompute and never train)."""

from depthlab.plots.common import VERDICT_COLORS, new_figure, save_figure, save_note, save_plotly
from depthlab.plots.probes import (
    as_frame,
    plot,
    plot_history,
    plot_moments,
    plot_regions_2d,
    plot_surface,
    plot_trajectory,
)

__all__ = [
    "VERDICT_COLORS",
    "as_frame",
    "new_figure",
    "plot",
    "plot_history",
    "plot_moments",
    "plot_regions_2d",
    "plot_surface",
    "plot_trajectory",
    "save_figure",
    "save_note",
    "save_plotly",
]
