"""Landscape figures are drawn from tidy tables and written under figures/."""

from __future__ import annotations

import numpy as np
import pandas as pd

from depthlab.plots import landscape as pl


def _frame() -> pd.DataFrame:
    rows = []
    for label, bump in (("skip", 0.0), ("no skip", 1.0)):
        for a in np.linspace(-1, 1, 5):
            for b in np.linspace(-1, 1, 5):
                loss = a**2 + b**2 + bump * np.sin(4 * a)
                rows.append(
                    dict(label=label, alpha=a, beta=b, loss=loss, acc=0.9, ratio=abs(a * b))
                )
    return pd.DataFrame(rows)


def test_every_landscape_plot_writes_its_file(tmp_path):
    f = _frame()
    figs = {}
    figs |= pl.plot_contours(f, tmp_path)
    figs |= pl.plot_contours(f, tmp_path, name="lines", filled=False)
    figs |= pl.plot_surface_3d(f, tmp_path)
    figs |= pl.plot_surface_plotly(f, tmp_path)
    figs |= pl.plot_ratio_maps(f, tmp_path)
    figs |= pl.plot_curves_1d(f[f.beta == 0], tmp_path)
    assert len(figs) == 6
    for rel in figs.values():
        path = tmp_path / rel
        assert path.stat().st_size > 1000, rel
    html = (tmp_path / figs["landscape_3d_interactive"]).read_text()
    assert '"type":"surface"' in html.replace(" ", "") and html.count('"cmax"') == 2
