"""Build the self-contained HTML report from saved run directories (never recomputes).

The report is one HTML file that opens offline:

- it opens with the claims table (claim, source, predicted, measured, tolerance, verdict), each row
  linking to its experiment's section; runs that failed get a row too, so they never disappear;
- then one section per lecture topic (``depthlab.experiments.SECTIONS`` order), each run with its
  figures (PNG embedded as ``data:`` URIs; plotly figures drawn from their JSON with plotly.js
  inlined once), its metrics and tables, its exact config and the command that reproduces it;
- a failed or interrupted run shows its status and error instead of results;
- it ends with the environment: versions, device, seed, git revision and wall time per run.

Every string from a run directory is HTML-escaped (jinja2 autoescape); plotly data travels as JSON
in ``<script type="application/json">`` with ``<`` escaped, never as markup.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from depthlab.atomic import atomic_write_text
from depthlab.experiments.base import SECTIONS
from depthlab.runs.store import load_result, read_status

IMAGE_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


@dataclass
class RunView:
    """One run directory as the report shows it."""

    name: str
    path: Path
    status: str
    anchor: str = ""
    title: str = ""
    section: str = "other"
    order: int = 0
    claims: list[dict] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    config_yaml: str = ""
    command: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    error_headline: str = ""


def find_runs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (any directory holding a ``status`` file), root included."""
    root = Path(root)
    return [p.parent for p in sorted(root.rglob("status")) if p.is_file()]


def json_for_script(obj: Any) -> Markup:
    """JSON that is safe inside ``<script type="application/json">`` (no ``</script>`` breakout)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _figure_view(run_dir: Path, name: str, rel: str) -> dict:
    path = (run_dir / rel).resolve()
    if not path.is_relative_to(run_dir.resolve()) or not path.exists():
        return {"name": name, "kind": "missing", "body": rel}
    if path.suffix in IMAGE_TYPES:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return {
            "name": name,
            "kind": "image",
            "body": f"data:{IMAGE_TYPES[path.suffix]};base64,{data}",
        }
    if path.suffix == ".html":
        sidecar = path.with_suffix(".json")
        if sidecar.exists():
            try:
                spec = json.loads(sidecar.read_text(encoding="utf-8"))
                return {"name": name, "kind": "plotly", "body": json_for_script(spec)}
            except (ValueError, TypeError) as exc:
                return {"name": name, "kind": "missing", "body": f"{rel}: unreadable ({exc})"}
        text = path.read_text(encoding="utf-8")
        # A fragment written by plotly (which escapes its data) is inlined; anything else is not.
        if "plotly-graph-div" in text and "Plotly.newPlot" in text:
            return {"name": name, "kind": "html", "body": Markup(text)}
        return {"name": name, "kind": "missing", "body": f"{rel}: not a plotly figure"}
    return {"name": name, "kind": "missing", "body": rel}


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
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def load_view(run_dir: Path, max_rows: int = 12) -> RunView:
    """Read one run directory into a :class:`RunView` (a broken directory becomes a failed view)."""
    from depthlab.experiments import registry

    run_dir = Path(run_dir)
    status = read_status(run_dir) or "missing"
    cfg_path = run_dir / "config.yaml"
    config: dict[str, Any] = {}
    cfg_text = ""
    if cfg_path.exists():
        cfg_text = cfg_path.read_text(encoding="utf-8")
        try:
            loaded = yaml.safe_load(cfg_text)
            config = loaded if isinstance(loaded, dict) else {}
        except yaml.YAMLError:
            config = {}
    name = str(config.get("experiment", run_dir.name))
    exp = registry(include_probes=True).get(name)
    view = RunView(name=name, path=run_dir, status=status, config_yaml=cfg_text)
    meta: dict[str, Any] = {}
    if status == "done":
        try:
            res = load_result(run_dir)
        except Exception as exc:  # a damaged directory is shown, not fatal
            view.status = "failed"
            view.error_headline = f"could not read the saved result: {type(exc).__name__}: {exc}"
            view.error = view.error_headline
        else:
            view.claims = [c.to_dict() for c in res.claims]
            view.metrics = {k: _fmt(v) for k, v in res.metrics.items()}
            meta = res.meta
            view.figures = [_figure_view(run_dir, k, v) for k, v in res.figures.items()]
            for tname, frame in res.tables.items():
                shown = frame.head(max_rows)
                view.tables.append(
                    {
                        "name": tname,
                        "rows": len(frame),
                        "cols": len(frame.columns),
                        "html": Markup(
                            shown.to_html(
                                index=False,
                                float_format=lambda v: f"{v:.4g}",
                                border=0,
                                escape=True,
                                classes="data",
                            )
                        ),
                    }
                )
    elif status == "failed":
        err = run_dir / "error.txt"
        fail = run_dir / "failure.json"
        view.error = err.read_text(encoding="utf-8") if err.exists() else ""
        if fail.exists():
            try:
                info = json.loads(fail.read_text(encoding="utf-8"))
                meta = info.get("meta", {}) or {}
                view.error_headline = str(info.get("error", ""))
            except ValueError:
                pass
        if not view.error_headline:
            lines = [ln for ln in view.error.strip().splitlines() if ln.strip()]
            view.error_headline = lines[-1] if lines else "failed (no traceback saved)"
        view.error = view.error or view.error_headline
    else:
        view.error_headline = f"this run did not finish (status: {status})"
        view.error = view.error_headline
    view.meta = meta if isinstance(meta, dict) else {}
    view.title = str(getattr(exp, "title", None) or view.meta.get("title") or name)
    section = getattr(exp, "section", None) or view.meta.get("section") or "other"
    view.section = section if section in SECTIONS else "other"
    view.order = int(getattr(exp, "order", None) or view.meta.get("order") or 0)
    view.command = reproduce_command(name, config, view.meta)
    return view


def _anchor(name: str, used: set[str]) -> str:
    base = "run-" + (re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-") or "run")
    anchor, i = base, 2
    while anchor in used:
        anchor, i = f"{base}-{i}", i + 1
    used.add(anchor)
    return anchor


ENV_KEYS = ("depthlab", "python", "torch", "numpy", "platform", "device_name", "threads")


def build_report(
    root: str | Path, out: str | Path | None = None, title: str = "depthlab report"
) -> Path:
    """Render one self-contained HTML file for every run directory under ``root``.

    Parameters
    ----------
    root : a run directory, or a directory holding run directories (searched recursively).
    out : the HTML file to write (default ``root/index.html``), written atomically.
    title : the page title.

    Returns
    -------
    Path
        The written file.
    """
    root = Path(root)
    views = [load_view(p) for p in find_runs(root)]
    keys = list(SECTIONS)
    views.sort(key=lambda v: (keys.index(v.section), v.order, v.name, str(v.path)))
    used: set[str] = set()
    for v in views:
        v.anchor = _anchor(v.name, used)
    sections = []
    for key in keys:
        members = [v for v in views if v.section == key]
        if members:
            sections.append({"key": key, "title": SECTIONS[key], "runs": members})
    claims = [
        dict(
            c,
            experiment=v.name,
            anchor=v.anchor,
            predicted=_fmt(c.get("predicted")),
            measured=_fmt(c.get("measured")),
        )
        for v in views
        for c in v.claims
    ]
    failed = [v for v in views if v.status != "done"]
    counts = {k: sum(c["verdict"] == k for c in claims) for k in ("holds", "fails", "inconclusive")}
    needs_plotly = any(f["kind"] in ("plotly", "html") for v in views for f in v.figures)
    plotly_js = ""
    if needs_plotly:
        from plotly.offline import get_plotlyjs

        plotly_js = Markup(get_plotlyjs().replace("</script", "<\\/script"))
    env_rows = {}
    for v in views:
        for k in ENV_KEYS:
            if v.meta.get(k) not in (None, ""):
                env_rows.setdefault(k, set()).add(str(v.meta[k]))
    total_wall = sum(float(v.meta.get("wall_s") or 0) for v in views)
    env = Environment(
        loader=PackageLoader("depthlab", "report/templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
    )
    html = env.get_template("index.html.j2").render(
        title=title,
        sections=sections,
        claims=claims,
        failed=failed,
        counts=counts,
        views=views,
        plotly_js=plotly_js,
        env_rows={k: ", ".join(sorted(vals)) for k, vals in env_rows.items()},
        total_wall=total_wall,
    )
    out_path = Path(out) if out else root / "index.html"
    atomic_write_text(out_path, html)
    return out_path
