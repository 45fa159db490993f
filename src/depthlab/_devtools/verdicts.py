"""Print the README's verdict table from a reproduce output folder.

``python -m depthlab._devtools.verdicts RUNS_DIR`` prints one markdown row per claim (experiment,
claim, kind, n, estimate, 95 % interval, region, verdict) and a line of counts, from each run
directory's ``result.json``; nothing is recomputed.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

HEADER = (
    "| experiment | claim | kind | n | estimate | 95 % interval | region | verdict |\n"
    "|---|---|---|---|---|---|---|---|"
)


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3g}"


def _region(r: dict | None) -> str:
    if r is None:
        return "exact"
    lo = "−∞" if r.get("lo") is None else f"{r['lo']:.3g}"
    hi = "∞" if r.get("hi") is None else f"{r['hi']:.3g}"
    return f"[{lo}, {hi}]"


def rows(root: Path) -> tuple[list[str], Counter]:
    """The table rows and the counts of (kind, verdict) under ``root``."""
    out, counts = [], Counter()
    for result in sorted(root.glob("*/result.json")):
        name = result.parent.name
        for c in json.loads(result.read_text())["claims"]:
            kind = c.get("kind") or "empirical"
            counts[(kind, c["verdict"])] += 1
            if kind == "construction":
                out.append(
                    f"| {name} | `{c['id']}` | construction | – | – | – | exact | {c['verdict']} |"
                )
                continue
            iv = c.get("interval")
            interval = "–" if not iv else f"[{_num(iv[0])}, {_num(iv[1])}]"
            n = f"{c['n']} {c.get('unit') or ''}".strip() if c.get("n") else "–"
            out.append(
                f"| {name} | `{c['id']}` | {kind} | {n} | {_num(c.get('estimate'))} | {interval} "
                f"| {_region(c.get('region'))} | {c['verdict']} |"
            )
    return out, counts


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m depthlab._devtools.verdicts RUNS_DIR", file=sys.stderr)
        return 2
    root = Path(args[0])
    table, counts = rows(root)
    for d in sorted(p for p in root.iterdir() if p.is_dir() and (p / "status").exists()):
        if not (d / "result.json").exists():  # a failed or skipped experiment: say so, not drop it
            status = (d / "status").read_text().strip()
            print(f"missing: {d.name} has no result.json (status {status})", file=sys.stderr)
    print(HEADER)
    print("\n".join(table))
    verdict_names = sorted(
        {v for (k, v) in counts if k == "empirical"} | {"holds", "fails", "inconclusive"}
    )
    emp = {v: counts[("empirical", v)] for v in verdict_names}
    con = sum(n for (k, _), n in counts.items() if k == "construction")
    print(
        f"\n{sum(emp.values()) + con} claims: {sum(emp.values())} empirical {emp}, {con} constructions"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
