"""A small HTML view of a :class:`~depthlab.core.Result` for Jupyter (``Result._repr_html_``)."""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path
from typing import Any

from depthlab.report.fmt import fmt_num

_COLORS = {"holds": "#2e7d32", "fails": "#c62828", "inconclusive": "#ef6c00"}


def _fmt(v: Any) -> str:
    return fmt_num(v)


def _first_image(result) -> tuple[str, str] | None:
    if not result.run_dir:
        return None
    root = Path(result.run_dir).resolve()
    for name, rel in result.figures.items():
        path = (root / rel).resolve()
        if path.suffix == ".png" and path.is_relative_to(root) and path.is_file():
            return name, base64.b64encode(path.read_bytes()).decode("ascii")
    return None


def result_html(result, max_metrics: int = 8) -> str:
    """Headline numbers (verdict counts, claims, metrics) and the first PNG figure, all escaped."""
    found = [c for c in result.claims if c.kind != "construction"]
    built = len(result.claims) - len(found)
    counts = {v: sum(c.verdict == v for c in found) for v in _COLORS}
    parts = [
        '<div class="depthlab-result" style="font-family:system-ui,sans-serif;font-size:13px">',
        f"<strong>{escape(result.experiment)}</strong> &mdash; "
        + ", ".join(
            f'<span style="color:{_COLORS[k]}">{n} {escape(k)}</span>' for k, n in counts.items()
        )
        + (f"; {built} constructions checked" if built else ""),
    ]
    if result.claims:
        parts.append(
            '<table><thead><tr><th style="text-align:left">claim</th><th>predicted</th>'
            "<th>measured</th><th>verdict</th></tr></thead><tbody>"
        )
        for c in result.claims:
            parts.append(
                f'<tr><td style="text-align:left">{escape(c.statement)}</td>'
                f"<td>{escape(_fmt(c.predicted))}</td><td>{escape(_fmt(c.measured))}</td>"
                f'<td style="color:{_COLORS[c.verdict]};font-weight:600">{escape(c.verdict)}</td>'
                "</tr>"
            )
        parts.append("</tbody></table>")
    if result.metrics:
        items = list(result.metrics.items())[:max_metrics]
        parts.append(
            "<p>"
            + "; ".join(f"{escape(str(k))} = {escape(_fmt(v))}" for k, v in items)
            + ("; &hellip;" if len(result.metrics) > max_metrics else "")
            + "</p>"
        )
    if result.tables:
        parts.append(
            "<p>tables: "
            + ", ".join(f"{escape(k)} ({len(t)} rows)" for k, t in result.tables.items())
            + "</p>"
        )
    image = _first_image(result)
    if image is not None:
        name, data = image
        parts.append(
            f'<img alt="{escape(name)}" style="max-width:420px" src="data:image/png;base64,{data}">'
        )
    parts.append("</div>")
    return "".join(parts)
