"""The HTML report, rendered from saved run directories only."""

from depthlab.report.build import build_report, find_runs, load_view

__all__ = ["build_report", "find_runs", "load_view"]
