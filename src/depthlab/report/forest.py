"""The forest plot: one row per empirical claim, drawn as static SVG in Python (no JavaScript).

Each row shows the claim's 95 % interval (line) and estimate (dot), coloured by verdict, against
its tolerance region (shaded band; an open side runs to the row's edge) and the prediction
(diamond). Claims differ in units and scale, so every row has its own axis, labelled at both ends;
a row whose values are all positive and span more than two decades uses a log axis. A claim with
no interval (one sample) gets a row that says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape
from typing import Any

from depthlab.report.fmt import fmt_num

COLORS = {"holds": "#2e7d32", "fails": "#c62828", "inconclusive": "#ef6c00"}
REGION_FILL = "#c9def2"
WIDTH = 1000
LABEL_X, PLOT_X0, PLOT_X1, TEXT_X = 8, 360, 680, 696
ROW_H, HEAD_H, LEGEND_H = 34, 24, 30


def _num(x: Any) -> float | None:
    """A finite float, or ``None`` (open region sides are stored as ``None`` or ``"inf"``)."""
    if isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _side(x: Any) -> float | None:
    """One side of an interval: a float (possibly infinite), or ``None`` when missing or NaN."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _short(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def _attr(text: Any) -> str:
    return escape(str(text), quote=True)


class _Scale:
    """Map a row's values to x; linear, or log10 when positive and spanning > 2 decades."""

    def __init__(self, values: Sequence[float]):
        lo, hi = min(values), max(values)
        self.log = lo > 0 and hi / lo > 100
        t = (lambda v: math.log10(v)) if self.log else (lambda v: v)
        a, b = t(lo), t(hi)
        pad = 0.08 * (b - a) if b > a else max(abs(a) * 0.1, 0.5 if self.log else 1.0)
        self.a, self.b, self._t = a - pad, b + pad, t
        self.lo = 10**self.a if self.log else self.a
        self.hi = 10**self.b if self.log else self.b

    def x(self, v: float) -> float:
        frac = (self._t(v) - self.a) / (self.b - self.a)
        return PLOT_X0 + min(max(frac, 0.0), 1.0) * (PLOT_X1 - PLOT_X0)


def _legend() -> list[str]:
    y = LEGEND_H / 2
    parts = [
        f'<rect x="{LABEL_X}" y="{y - 7}" width="26" height="14" fill="{REGION_FILL}"/>',
        f'<text x="{LABEL_X + 32}" y="{y + 4}">tolerance region</text>',
        f'<line x1="150" y1="{y}" x2="178" y2="{y}" stroke="#444" stroke-width="2.5"/>',
        f'<circle cx="164" cy="{y}" r="3.5" fill="#444"/>',
        f'<text x="184" y="{y + 4}">95 % interval, estimate</text>',
        _diamond(352, y, "#111"),
        f'<text x="362" y="{y + 4}">prediction</text>',
    ]
    x = 450
    for verdict, color in COLORS.items():
        parts.append(f'<rect x="{x}" y="{y - 6}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{x + 16}" y="{y + 4}">{verdict}</text>')
        x += 30 + 8 * len(verdict)
    parts.append(f'<text x="{x + 10}" y="{y + 4}" class="muted">each row has its own axis</text>')
    return parts


def _diamond(x: float, y: float, color: str) -> str:
    return (
        f'<path d="M{x:.1f} {y - 6:.1f} L{x + 5:.1f} {y:.1f} L{x:.1f} {y + 6:.1f} '
        f'L{x - 5:.1f} {y:.1f} Z" fill="white" stroke="{color}" stroke-width="1.6"/>'
    )


def _row(c: dict[str, Any], y: float, stripe: bool) -> list[str]:
    verdict = str(c.get("verdict", "inconclusive"))
    color = COLORS.get(verdict, "#555")
    iv = c.get("interval") or None
    raw = (_side(iv[0]), _side(iv[1])) if iv and len(iv) == 2 else (None, None)
    has_iv = iv is not None and None not in raw  # an infinite side is an open interval
    ivlo, ivhi = (_num(v) for v in raw) if has_iv else (None, None)
    est = _num(c.get("estimate"))
    region = c.get("region") or {}
    rlo, rhi = _num(region.get("lo")), _num(region.get("hi"))
    pred = _num(c.get("predicted"))
    mid = y + 15
    title = f"{c.get('id', '')}: {c.get('statement', '')}"
    parts = [f'<g class="forest-row" data-verdict="{_attr(verdict)}">']
    if stripe:
        parts.append(f'<rect x="0" y="{y}" width="{WIDTH}" height="{ROW_H}" fill="#f5f7fa"/>')
    parts.append(f"<title>{escape(title)}</title>")
    href = f"#{c['anchor']}" if c.get("anchor") else None
    label = (
        f'<text x="{LABEL_X}" y="{y + 14}" class="cid">{escape(_short(c.get("id", ""), 46))}</text>'
        f'<text x="{LABEL_X}" y="{y + 27}" class="muted">'
        f"{escape(_short(c.get('statement', ''), 58))}</text>"
    )
    parts.append(f'<a href="{_attr(href)}">{label}</a>' if href else label)
    values = [v for v in (ivlo, ivhi, est, rlo, rhi, pred) if v is not None]
    if not has_iv or not values:
        parts.append(
            f'<text x="{PLOT_X0}" y="{mid + 4}" class="muted">no interval'
            f"{escape(_n_text(c, sep=' (', end=')'))}: cannot be decided</text>"
        )
    else:
        s = _Scale(values)
        if rlo is not None or rhi is not None:
            x0 = s.x(rlo) if rlo is not None else PLOT_X0
            x1 = s.x(rhi) if rhi is not None else PLOT_X1
            parts.append(
                f'<rect class="region" x="{x0:.1f}" y="{y + 5}" width="{max(x1 - x0, 1.5):.1f}" '
                f'height="20" fill="{REGION_FILL}"/>'
            )
        parts.append(
            f'<line x1="{PLOT_X0}" y1="{mid}" x2="{PLOT_X1}" y2="{mid}" stroke="#d0d5db"/>'
        )
        a = s.x(ivlo) if ivlo is not None else PLOT_X0
        b = s.x(ivhi) if ivhi is not None else PLOT_X1
        parts.append(
            f'<g class="interval" stroke="{color}" stroke-width="2.5">'
            f'<line x1="{a:.1f}" y1="{mid}" x2="{b:.1f}" y2="{mid}"/>'
            f'<line x1="{a:.1f}" y1="{mid - 5}" x2="{a:.1f}" y2="{mid + 5}"/>'
            f'<line x1="{b:.1f}" y1="{mid - 5}" x2="{b:.1f}" y2="{mid + 5}"/></g>'
        )
        if est is not None:
            parts.append(f'<circle cx="{s.x(est):.1f}" cy="{mid}" r="3.5" fill="{color}"/>')
        if pred is not None:
            parts.append(_diamond(s.x(pred), mid, "#111"))
        scale_note = " (log)" if s.log else ""
        parts.append(
            f'<text x="{PLOT_X0}" y="{y + 33}" class="tick">{escape(fmt_num(s.lo))}</text>'
            f'<text x="{PLOT_X1}" y="{y + 33}" class="tick" text-anchor="end">'
            f"{escape(fmt_num(s.hi))}{scale_note}</text>"
        )
    ivtext = (
        f"[{fmt_num(raw[0])}, {fmt_num(raw[1])}]".replace("[-inf", "(-inf").replace("inf]", "inf)")
        if has_iv
        else "no interval"
    )
    parts.append(
        f'<text x="{TEXT_X}" y="{y + 14}"><tspan fill="{color}" font-weight="600">'
        f"{escape(verdict)}</tspan> {escape(ivtext)}</text>"
        f'<text x="{TEXT_X}" y="{y + 27}" class="muted">'
        f"{escape(_region_label(region, rlo, rhi))}{escape(_n_text(c, sep=' · '))}</text>"
    )
    parts.append("</g>")
    return parts


def region_text(lo: float | None, hi: float | None) -> str:
    if lo is None and hi is None:
        return "any value"
    if lo is None:
        return f"\u2264 {fmt_num(hi)}"
    if hi is None:
        return f"\u2265 {fmt_num(lo)}"
    return f"[{fmt_num(lo)}, {fmt_num(hi)}]"


def _region_label(region: dict, lo: float | None, hi: float | None) -> str:
    return f"region {region_text(lo, hi)}" if region else "no tolerance region"


def _n_text(c: dict[str, Any], sep: str = " ", end: str = "") -> str:
    n = c.get("n")
    if n in (None, ""):
        return ""
    unit = str(c.get("unit") or "").strip()
    return f"{sep}n = {n}{' ' + unit if unit else ''}{end}"


def forest_svg(groups: Sequence[tuple[str, Sequence[dict[str, Any]]]]) -> str:
    """The forest plot as one ``<svg>`` string (every text escaped).

    Parameters
    ----------
    groups : ``[(section title, [claim dict, ...]), ...]`` in reading order; each claim dict is
        ``Claim.to_dict()`` plus an optional ``anchor`` (the id of its row in the claims table).
    """
    body: list[str] = _legend()
    y = LEGEND_H
    rows = 0
    for title, claims in groups:
        if not claims:
            continue
        body.append(f'<text x="{LABEL_X}" y="{y + 17}" class="head">{escape(str(title))}</text>')
        y += HEAD_H
        for c in claims:
            body.extend(_row(c, y, stripe=rows % 2 == 0))
            y += ROW_H
            rows += 1
    height = y + 6
    style = (
        "<style>text{font:12px system-ui,-apple-system,'Segoe UI',sans-serif;fill:#1d2329}"
        ".muted{font-size:10.5px;fill:#5b6570}.tick{font-size:9px;fill:#8a949e}"
        ".head{font-size:12.5px;font-weight:600;fill:#1f3a5f}.cid{font-weight:600}"
        "a:hover text{text-decoration:underline}</style>"
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="forest-plot" viewBox="0 0 {WIDTH} '
        f'{height}" width="100%" role="img" aria-label="Forest plot of {rows} empirical claims">'
        + style
        + "".join(body)
        + "</svg>"
    )
