"""Build the self-contained HTML report from saved run directories (never recomputes)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from depthlab.experiments.base import SECTIONS
from depthlab.runs.atomic import atomic_write_text
from depthlab.runs.store import load_result, read_status


@dataclass
class RunView:
    """One run directory as the report shows it."""

    name: str
    path: Path
    status: str
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


def find_runs(root: str | Path) -> list[Path]:
    """Run directories under ``root`` (any directory holding a ``status`` file), root included."""
    root = Path(root)
    found = [p.parent for p in sorted(root.rglob("status")) if p.is_file()]
    return found


def _figure_view(run_dir: Path, name: str, rel: str) -> dict:
    path = run_dir / rel
    if not path.exists():
        return {"name": name, "kind": "missing", "body": rel}
    if path.suffix == ".png":
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return {"name": name, "kind": "png", "body": f"data:image/png;base64,{data}"}
    if path.suffix == ".html":
        return {"name": name, "kind": "html", "body": Markup(path.read_text(encoding="utf-8"))}
    return {"name": name, "kind": "missing", "body": rel}


def load_view(run_dir: Path, max_rows: int = 12) -> RunView:
    from depthlab.experiments import registry

    status = read_status(run_dir) or "missing"
    cfg_path = run_dir / "config.yaml"
    config = yaml.safe_load(cfg_path.read_text()) if cfg_path.exists() else {}
    name = (config or {}).get("experiment", run_dir.name)
    exp = registry().get(name)
    view = RunView(
        name=name,
        path=run_dir,
        status=status,
        title=getattr(exp, "title", name),
        section=getattr(exp, "section", "other"),
        order=getattr(exp, "order", 0),
        config_yaml=yaml.safe_dump(config, sort_keys=False) if config else "",
    )
    overrides = " ".join(
        f"--set {k}={json.dumps(v, separators=(',', ':'))}"
        for k, v in (config or {}).items()
        if k != "experiment"
    )
    view.command = f"depthlab run {name} {overrides}".strip()
    if status == "done":
        res = load_result(run_dir)
        view.claims = [c.to_dict() for c in res.claims]
        view.metrics = res.metrics
        view.meta = res.meta
        view.figures = [_figure_view(run_dir, k, v) for k, v in res.figures.items()]
        for tname, frame in res.tables.items():
            shown = frame.head(max_rows)
            view.tables.append(
                {
                    "name": tname,
                    "rows": len(frame),
                    "html": Markup(
                        shown.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0)
                    ),
                }
            )
    elif status == "failed":
        err = run_dir / "error.txt"
        fail = run_dir / "failure.json"
        view.error = err.read_text() if err.exists() else "failed (no traceback saved)"
        if fail.exists():
            view.meta = json.loads(fail.read_text()).get("meta", {})
    else:
        view.error = f"this run did not finish (status: {status})"
    return view


def build_report(
    root: str | Path, out: str | Path | None = None, title: str = "depthlab report"
) -> Path:
    """Render ``index.html`` for every run directory under ``root``; returns its path."""
    root = Path(root)
    views = [load_view(p) for p in find_runs(root)]
    keys = list(SECTIONS)
    views.sort(
        key=lambda v: (keys.index(v.section) if v.section in keys else len(keys), v.order, v.name)
    )
    sections = []
    for key in keys:
        members = [v for v in views if v.section == key]
        if members:
            sections.append({"key": key, "title": SECTIONS[key], "runs": members})
    claims = [dict(c, experiment=v.name) for v in views for c in v.claims]
    counts = {k: sum(c["verdict"] == k for c in claims) for k in ("holds", "fails", "inconclusive")}
    needs_plotly = any(f["kind"] == "html" for v in views for f in v.figures)
    plotly_js = ""
    if needs_plotly:
        from plotly.offline import get_plotlyjs

        plotly_js = Markup(get_plotlyjs())
    env = Environment(
        loader=PackageLoader("depthlab", "report/templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
    )
    html = env.get_template("index.html.j2").render(
        title=title,
        sections=sections,
        claims=claims,
        counts=counts,
        views=views,
        plotly_js=plotly_js,
    )
    out_path = Path(out) if out else root / "index.html"
    atomic_write_text(out_path, html)
    return out_path
