"""Build the HTML report from saved run directories (never recomputes, never imports experiments).

The report reads top-down:

- a header with the headline (empirical claims only: hold / fail / inconclusive), a banner when any
  run ran at ``--quick`` or ``tiny`` scale (its verdicts are a smoke test, not evidence), and one
  warning line per damaged run directory (a damaged directory never aborts the report);
- the **forest plot** (static SVG, :mod:`depthlab.report.forest`): every empirical claim's 95 %
  interval against its shaded tolerance region and the prediction, coloured by verdict;
- the **claims table**: verdict first, one line per claim, details expandable (n and unit, the
  interval, the tolerance and its region, the tolerance history, the note), filterable by verdict
  and by section, with counts per section; then the **constructions checked** (exact checks of a
  construction or formula, not counted in the headline) and the runs that did not finish;
- one section per lecture topic, each run with its figures (static PNG, the interactive version
  one click away), metrics, tables, exact config and the command that reproduces it;
- the environment: versions, device, seed, git revision and wall time per run.

Everything the report knows about a run comes from its directory: title, section, order and
figure captions from the ``meta`` the runner saves (:func:`depthlab.runs.runner.report_meta`).
Every string is HTML-escaped (jinja2 autoescape); no markup from a run directory is ever inlined:
PNGs are linked relative to the report (or embedded once with ``self_contained=True``), an
interactive figure travels only as its plotly JSON (in ``<script type="application/json">``,
``<`` escaped) and is drawn by the report's own code, with plotly.js written once beside the
report and loaded only when a reader opens an interactive figure.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from depthlab.atomic import atomic_write_text
from depthlab.core import Claim
from depthlab.report.fmt import fmt_num, no_negative_zero
from depthlab.report.forest import forest_svg, region_text

IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}
SMOKE_SCALES = ("quick", "tiny")
OTHER_RANK = 999


@dataclass
class RunView:
    """One run directory as the report shows it."""

    name: str
    path: Path
    status: str
    anchor: str = ""
    title: str = ""
    section: str = "other"
    section_title: str = "Other experiments"
    section_rank: int = OTHER_RANK
    order: int = 0
    scale: str = ""
    smoke: bool = False
    claims: list[dict] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)
    config_yaml: str = ""
    command: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    wall_s: float | None = None
    error: str = ""
    error_headline: str = ""
    warnings: list[str] = field(default_factory=list)


def find_runs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (any directory holding a ``status`` file), root included."""
    root = Path(root)
    return [p.parent for p in sorted(root.rglob("status")) if p.is_file()]


def json_for_script(obj: Any) -> Markup:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _read_text(path: Path, what: str, warnings: list[str]) -> str | None:
    """The file's text, or ``None`` with a warning when it is not UTF-8 or cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        warnings.append(f"{what} could not be read ({exc.strerror or exc})")
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        warnings.append(f"{what} is not UTF-8 (byte {exc.start}); shown with replacement marks")
        return data.decode("utf-8", errors="replace")


def _png_css_size(head: bytes) -> tuple[int, int] | None:
    """Display size in CSS pixels of a PNG: 100 px per inch of the saved figure (so a 2x-dpi
    PNG stays sharp), from its IHDR and pHYs chunks; ``None`` when it is not a PNG."""
    if head[:8] != b"\x89PNG\r\n\x1a\n" or len(head) < 24:
        return None
    w, h = struct.unpack(">II", head[16:24])
    i = head.find(b"pHYs")
    scale = 0.5
    if i > 0 and len(head) >= i + 13:
        ppx, _ppy, unit = struct.unpack(">IIB", head[i + 4 : i + 13])
        if unit == 1 and ppx > 0:
            scale = 100 / (ppx * 0.0254)
    return max(1, round(w * scale)), max(1, round(h * scale))


def caption_for(name: str, captions: dict[str, Any]) -> str:
    """The experiment's caption for figure ``name``, or one sentence made from the name."""
    text = captions.get(name) if isinstance(captions, dict) else None
    if text:
        return str(text)
    words = re.sub(r"[_\-\s]+", " ", str(name)).strip()
    words = re.sub(r"\binteractive\b", "", words).strip() or "figure"
    sentence = words[0].upper() + words[1:]
    return sentence if sentence.endswith(".") else sentence + "."


def _figure_view(
    run_dir: Path, name: str, rel: Any, report_dir: Path, embed: bool, captions: dict
) -> dict:
    fig: dict[str, Any] = {"name": name, "caption": caption_for(name, captions)}
    root = run_dir.resolve()
    path = (run_dir / str(rel)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return fig | {"kind": "missing", "body": f"{rel}: no such file in the run directory"}
    suffix = path.suffix.lower()
    if suffix in IMAGE_TYPES:
        if embed:
            data = path.read_bytes()
            src = f"data:{IMAGE_TYPES[suffix]};base64,{base64.b64encode(data).decode('ascii')}"
            head = data[:4096]
        else:
            src = quote(os.path.relpath(path, report_dir.resolve()).replace(os.sep, "/"))
            with path.open("rb") as fh:
                head = fh.read(4096)
        size = _png_css_size(head) if suffix == ".png" else None
        return fig | {"kind": "image", "src": src, "size": size}
    if suffix in (".html", ".json"):
        # Only the plotly JSON is read; an .html file from a run directory is never inlined.
        sidecar = path.with_suffix(".json")
        if not sidecar.is_file():
            return fig | {"kind": "missing", "body": f"{rel}: interactive figure without its JSON"}
        try:
            spec = json.loads(sidecar.read_text(encoding="utf-8"))
            if not isinstance(spec, dict) or not isinstance(spec.get("data", []), list):
                raise ValueError("not a plotly figure")
            body = json_for_script(
                {"data": spec.get("data", []), "layout": spec.get("layout", {}) or {}}
            )
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            return fig | {"kind": "missing", "body": f"{rel}: unreadable plotly JSON ({exc})"}
        return fig | {"kind": "plotly", "body": body}
    if suffix == ".txt":
        # A figure the plot helpers declined to draw (degenerate grid): the reason, as text.
        text = path.read_text(encoding="utf-8", errors="replace").strip()[:1000]
        return fig | {"kind": "note", "body": text or "not drawn"}
    return fig | {"kind": "missing", "body": f"{rel}: unsupported figure type {suffix or '?'}"}


def _pair_interactive(figures: list[dict]) -> list[dict]:
    """Attach ``X_interactive`` (plotly) to the static figure ``X`` when both exist."""
    static = {f["name"]: f for f in figures if f["kind"] == "image"}
    out = []
    for f in figures:
        base = f["name"].removesuffix("_interactive")
        if f["kind"] == "plotly" and base != f["name"] and base in static:
            static[base]["interactive"] = f
            continue
        out.append(f)
    return out


def reproduce_command(name: str, config: dict[str, Any], meta: dict[str, Any]) -> str:
    """The shell command that reruns this exact config (every key set explicitly)."""
    parts = ["depthlab", "run", name]
    for k, v in config.items():
        if k == "experiment":
            continue
        parts += ["--set", f"{k}={json.dumps(v, separators=(',', ':'))}"]
    if meta.get("seed") not in (None, "", 0):
        parts += ["--seed", str(meta["seed"])]
    if meta.get("quick"):
        parts.append("--quick")
    return " ".join(shlex.quote(p) for p in parts)


def _fmt(v: Any) -> str:
    return fmt_num(v)


def _as_float(v: Any) -> float | None:
    if isinstance(v, bool) or v in (None, ""):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _apply_meta(view: RunView, meta: Any) -> None:
    """Title, section, order, scale and wall time from the saved ``meta``, each checked."""
    if not isinstance(meta, dict):
        view.warnings.append(f"meta is not a mapping ({type(meta).__name__}); ignored")
        meta = {}
    view.meta = meta
    view.title = str(meta.get("title") or view.name)
    view.section = str(meta.get("section") or "other")
    view.section_title = str(meta.get("section_title") or view.section.capitalize())
    rank = meta.get("section_rank")
    view.section_rank = rank if isinstance(rank, int) and not isinstance(rank, bool) else OTHER_RANK
    order = meta.get("order")
    view.order = order if isinstance(order, int) and not isinstance(order, bool) else 0
    view.scale = str(meta.get("scale") or ("quick" if meta.get("quick") is True else ""))
    view.smoke = view.scale in SMOKE_SCALES
    if "wall_s" in meta:
        view.wall_s = _as_float(meta["wall_s"])
        if view.wall_s is None:
            view.warnings.append(f"meta.wall_s is not a number ({str(meta['wall_s'])[:40]!r})")


def _load_done(view: RunView, run_dir: Path, report_dir: Path, embed: bool, max_rows: int):
    result_path = run_dir / "result.json"
    if not result_path.is_file():
        raise _Damaged("status says done but result.json is missing")
    text = _read_text(result_path, "result.json", view.warnings)
    try:
        data = json.loads(text or "")
    except ValueError as exc:
        raise _Damaged(
            f"could not read the saved result: result.json is not JSON ({exc})"
        ) from None
    if not isinstance(data, dict):
        raise _Damaged("could not read the saved result: result.json is not a JSON object")
    _apply_meta(view, data.get("meta", {}))
    view.name = str(data.get("experiment") or view.name)
    for i, c in enumerate(data.get("claims") or []):
        try:
            view.claims.append(Claim.from_dict(c).to_dict())
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            view.warnings.append(f"claim #{i + 1} skipped: {exc}")
    metrics = data.get("metrics") or {}
    if isinstance(metrics, dict):
        view.metrics = {str(k): _fmt(v) for k, v in metrics.items()}
    captions = view.meta.get("captions") or {}
    figures = data.get("figures") or {}
    if isinstance(figures, dict):
        view.figures = _pair_interactive(
            [
                _figure_view(run_dir, str(k), v, report_dir, embed, captions)
                for k, v in figures.items()
            ]
        )
    for tname in data.get("tables") or []:
        try:
            import pandas as pd

            frame = pd.read_parquet(run_dir / "tables" / f"{tname}.parquet")
        except Exception as exc:  # a missing or damaged table is a warning, not fatal
            view.warnings.append(f"table {tname!r} could not be read ({type(exc).__name__})")
            continue
        html = frame.head(max_rows).to_html(
            index=False, float_format=fmt_num, border=0, escape=True, classes="data"
        )
        view.tables.append(
            {
                "name": str(tname),
                "rows": len(frame),
                "cols": len(frame.columns),
                "html": Markup(html),
            }
        )


class _Damaged(Exception):
    """A run directory that cannot be shown as a result."""


def load_view(
    run_dir: str | Path,
    max_rows: int = 12,
    report_dir: str | Path | None = None,
    self_contained: bool = False,
) -> RunView:
    """Read one run directory into a :class:`RunView`.

    A damaged directory (unreadable or non-UTF-8 files, a missing or broken ``result.json``, a
    non-numeric ``wall_s``) becomes a view with ``warnings`` (and, when no result can be shown,
    status ``failed``), never an exception.
    """
    run_dir = Path(run_dir)
    report_dir = Path(report_dir) if report_dir is not None else run_dir
    warnings: list[str] = []
    status = "missing"
    if (run_dir / "status").exists():
        status = (_read_text(run_dir / "status", "status", warnings) or "").strip() or "missing"
    cfg_text, config = "", {}
    if (run_dir / "config.yaml").exists():
        cfg_text = _read_text(run_dir / "config.yaml", "config.yaml", warnings) or ""
        try:
            loaded = yaml.safe_load(cfg_text)
            config = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError as exc:
            warnings.append(f"config.yaml is not valid YAML ({str(exc).splitlines()[0]})")
    name = str(config.get("experiment", run_dir.name))
    view = RunView(name=name, path=run_dir, status=status, config_yaml=cfg_text, warnings=warnings)
    _apply_meta(view, {})
    if status == "done":
        try:
            _load_done(view, run_dir, report_dir, self_contained, max_rows)
        except _Damaged as exc:
            view.status = "failed"
            view.error_headline = view.error = str(exc)
            view.warnings.append(str(exc))
    elif status == "failed":
        err, fail = run_dir / "error.txt", run_dir / "failure.json"
        view.error = (_read_text(err, "error.txt", warnings) or "") if err.exists() else ""
        meta: Any = {}
        if fail.exists():
            try:
                info = json.loads(_read_text(fail, "failure.json", warnings) or "")
                meta = info.get("meta", {}) or {}
                view.error_headline = str(info.get("error", ""))
            except (ValueError, AttributeError):
                warnings.append("failure.json is not a JSON object")
        _apply_meta(view, meta)
        if not view.error_headline:
            lines = [ln for ln in view.error.strip().splitlines() if ln.strip()]
            view.error_headline = lines[-1] if lines else "failed (no traceback saved)"
        view.error = view.error or view.error_headline
    else:
        view.error_headline = f"this run did not finish (status: {status})"
        view.error = view.error_headline
    view.command = reproduce_command(name, config, view.meta)
    return view


def _slug(text: str, prefix: str, used: set[str]) -> str:
    base = prefix + (re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "x")
    anchor, i = base, 2
    while anchor in used:
        anchor, i = f"{base}-{i}", i + 1
    used.add(anchor)
    return anchor


def _anchor(name: str, used: set[str]) -> str:
    return _slug(name, "run-", used)


def _claim_view(c: dict, v: RunView, used: set[str]) -> dict:
    region = c.get("region") or None
    iv = c.get("interval") or None
    return dict(
        c,
        experiment=v.name,
        run_anchor=v.anchor,
        anchor=_slug(str(c.get("id", "")), "claim-", used),
        section=v.section,
        section_title=v.section_title,
        smoke=v.smoke,
        kind=c.get("kind") or "unclassified",
        predicted_s=_fmt(c.get("predicted")),
        measured_s=_fmt(c.get("measured")),
        estimate_s=_fmt(c.get("estimate")),
        interval_s=f"[{_fmt(iv[0])}, {_fmt(iv[1])}]" if iv else "",
        region_s=(
            region_text(_as_float(region.get("lo")), _as_float(region.get("hi"))) if region else ""
        ),
        history=[{k: _fmt(h.get(k)) for k in h} for h in c.get("history") or []],
        statement=no_negative_zero(str(c.get("statement", ""))),
        source=no_negative_zero(str(c.get("source", ""))),
        tolerance=no_negative_zero(str(c.get("tolerance", ""))),
        note=no_negative_zero(str(c.get("note", ""))),
    )


ENV_KEYS = ("depthlab", "python", "torch", "numpy", "platform", "device_name", "threads")


def _plotly_js(report_dir: Path, self_contained: bool) -> tuple[str, Markup]:
    """``(src, inline)``: plotly.js written once beside the report (``src``), or its text for a
    self-contained file (kept inert until a reader opens an interactive figure)."""
    import plotly
    from plotly.offline import get_plotlyjs

    js = get_plotlyjs()
    if self_contained:
        return "", Markup(js.replace("</", "<\\/"))
    name = f"plotly-{plotly.__version__}.min.js"
    target = report_dir / name
    data = js.encode("utf-8")
    if not target.is_file() or target.stat().st_size != len(data):
        from depthlab.atomic import atomic_write_bytes

        atomic_write_bytes(target, data)
    return name, Markup("")


def build_report(
    root: str | Path,
    out: str | Path | None = None,
    title: str = "depthlab report",
    self_contained: bool = False,
) -> Path:
    """Render the HTML report for every run directory under ``root``.

    Parameters
    ----------
    root : a run directory, or a directory holding run directories (searched recursively).
    out : the HTML file to write (default ``root/index.html``), written atomically.
    title : the page title.
    self_contained : embed the PNGs (each once) and plotly.js in the one file, instead of linking
        the figures relative to the report and writing plotly.js beside it. Heavier and slower
        to open; for mailing a single file.

    Returns
    -------
    Path
        The written file.
    """
    root = Path(root)
    out_path = Path(out) if out else root / "index.html"
    report_dir = out_path.parent if str(out_path.parent) else Path(".")
    views: list[RunView] = []
    warnings: list[str] = []
    for p in find_runs(root):
        rel = p.relative_to(root) if p != root else Path(p.name)
        try:
            v = load_view(p, report_dir=report_dir, self_contained=self_contained)
        except Exception as exc:  # never let one directory abort the report
            warnings.append(f"{rel}: skipped, could not be read ({type(exc).__name__}: {exc})")
            continue
        warnings.extend(f"{rel}: {w}" for w in v.warnings)
        views.append(v)
    # One block per section, placed by the best rank any of its runs saved (old runs have none).
    rank: dict[str, int] = {}
    for v in views:
        rank[v.section] = min(rank.get(v.section, OTHER_RANK), v.section_rank)
    views.sort(key=lambda v: (rank[v.section], v.section, v.order, v.name, str(v.path)))
    used: set[str] = set()
    eager = 2  # the first figures a reader reaches load with the page; the rest when scrolled to
    for v in views:
        v.anchor = _anchor(v.name, used)
        for f in v.figures:
            if f["kind"] == "image" and eager:
                f["eager"], eager = True, eager - 1
        for i, f in enumerate(v.figures):
            f["id"] = f"{v.anchor}-fig-{i}"
            if "interactive" in f:
                f["interactive"]["id"] = f"{v.anchor}-fig-{i}-interactive"
    sections: list[dict] = []
    for v in views:
        if not sections or sections[-1]["key"] != v.section:
            sections.append({"key": v.section, "title": v.section_title, "runs": []})
        sections[-1]["runs"].append(v)
    claim_ids: set[str] = set()
    all_claims = [_claim_view(c, v, claim_ids) for v in views for c in v.claims]
    for v in views:
        v.claims = [c for c in all_claims if c["run_anchor"] == v.anchor]
    claims = [c for c in all_claims if c["kind"] != "construction"]
    constructions = [c for c in all_claims if c["kind"] == "construction"]
    counts = {k: sum(c["verdict"] == k for c in claims) for k in ("holds", "fails", "inconclusive")}
    by_section = []
    for s in sections:
        members = [c for c in claims if c["section"] == s["key"]]
        built = [c for c in constructions if c["section"] == s["key"]]
        if members or built:
            by_section.append(
                {
                    "key": s["key"],
                    "title": s["title"],
                    "n": len(members),
                    "constructions": len(built),
                    **{k: sum(c["verdict"] == k for c in members) for k in counts},
                }
            )
    # The forest plot shows claims decided by the interval rule; claims of experiments not yet
    # converted (no kind, no interval) are listed in the table only.
    in_forest = [c for c in claims if c["kind"] == "empirical" or c.get("interval")]
    for c in in_forest:
        c["in_forest"] = True
    groups = [(s["title"], [c for c in in_forest if c["section"] == s["key"]]) for s in sections]
    forest = Markup(forest_svg(groups)) if in_forest else Markup("")
    unranked = len(claims) - len(in_forest)
    failed = [v for v in views if v.status != "done"]
    smoke = [v for v in views if v.smoke]
    needs_plotly = any(
        f["kind"] == "plotly" or "interactive" in f for v in views for f in v.figures
    )
    plotly_src, plotly_inline = _plotly_js(report_dir, self_contained) if needs_plotly else ("", "")
    env_rows: dict[str, set[str]] = {}
    for v in views:
        for k in ENV_KEYS:
            if v.meta.get(k) not in (None, ""):
                env_rows.setdefault(k, set()).add(str(v.meta[k]))
    total_wall = sum(v.wall_s or 0.0 for v in views)
    env = Environment(
        loader=PackageLoader("depthlab", "report/templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
    )
    env.filters["num"] = _fmt
    html = env.get_template("index.html.j2").render(
        title=title,
        sections=sections,
        claims=claims,
        constructions=constructions,
        by_section=by_section,
        forest=forest,
        unranked=unranked,
        failed=failed,
        smoke=smoke,
        warnings=warnings,
        counts=counts,
        views=views,
        plotly_src=plotly_src,
        plotly_inline=plotly_inline,
        needs_plotly=needs_plotly,
        env_rows={k: ", ".join(sorted(vals)) for k, vals in env_rows.items()},
        total_wall=total_wall,
    )
    atomic_write_text(out_path, html)
    return out_path
