"""Run directories under faults (issue 15 items 5 and 8): the order of begin_run, orphan temp
files, and damaged directories refused with one line (the report's handling of a damaged run is
tested with the report, in tests/unit/test_report.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from toyenv import toy_registered

from depthlab.runs import run_experiment, store
from depthlab.runs.store import DamagedRunError, begin_run, load_result, read_status


@pytest.fixture(autouse=True, scope="module")
def _toy_experiment():
    with toy_registered():
        yield


@pytest.fixture
def done_run(tmp_path) -> Path:
    d = tmp_path / "run"
    run_experiment("toy", {"width": 5}, out_dir=d)
    assert read_status(d) == "done"
    return d


def test_begin_run_marks_running_before_removing_the_old_result(done_run, monkeypatch):
    events = []
    real_status, real_unlink = store.write_status, Path.unlink

    def status(run_dir, value):
        events.append(("status", value, (Path(run_dir) / "result.json").exists()))
        real_status(run_dir, value)

    def unlink(self, missing_ok=False):
        if self.name == "result.json":
            events.append(("unlink", read_status(self.parent)))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(store, "write_status", status)
    monkeypatch.setattr(Path, "unlink", unlink)
    begin_run(done_run, "toy", {"width": 3})
    assert events[0] == ("status", "running", True)  # running first, the old result still there
    assert ("unlink", "running") in events  # removed only once the directory says running


def test_orphan_temp_files_are_removed_on_the_next_start(done_run):
    orphans = [done_run / ".result.json.abc123.tmp", done_run / "tables" / ".norms.parquet.x.tmp"]
    for p in orphans:
        p.write_bytes(b"half a write")
    keep = done_run / "notes.txt"
    keep.write_text("mine")
    run_experiment("toy", {"width": 2}, out_dir=done_run)
    assert not any(p.exists() for p in orphans)
    assert keep.read_text() == "mine" and read_status(done_run) == "done"


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (
            lambda d: (d / "config.yaml").write_bytes(b"width: \xff\n"),
            "config.yaml line 1: byte 0xff",
        ),
        (lambda d: (d / "config.yaml").write_text("a: &x 1\n"), "anchor"),
        (lambda d: (d / "config.yaml").unlink(), "config.yaml is missing"),
        (lambda d: (d / "result.json").write_text("{not json"), "result.json cannot be read"),
        (lambda d: (d / "result.json").write_bytes(b"\xff\xfe"), "result.json cannot be read"),
        (lambda d: (d / "result.json").unlink(), "status says done but result.json is missing"),
        (lambda d: _edit(d, lambda r: r["meta"].update(wall_s="abc")), "wall_s is not a number"),
        (lambda d: _edit(d, lambda r: r.update(claims="x")), "claims is not a list"),
        (lambda d: _edit(d, lambda r: r.update(experiment=None)), "not a result"),
        (lambda d: (d / "tables" / "norms.parquet").write_bytes(b"junk"), "norms.parquet"),
    ],
)
def test_damaged_run_is_refused_with_one_line(done_run, damage, needle):
    damage(done_run)
    with pytest.raises(DamagedRunError) as info:
        load_result(done_run)
    msg = str(info.value)
    assert needle in msg and "\n" not in msg and str(done_run) in msg
    assert isinstance(info.value, FileNotFoundError)  # callers that skip unfinished runs skip it


def _edit(d: Path, fn) -> None:
    data = json.loads((d / "result.json").read_text())
    fn(data)
    (d / "result.json").write_text(json.dumps(data))


def test_unreadable_status_never_counts_as_done(tmp_path):
    d = tmp_path / "r"
    d.mkdir()
    for body in (b"\xff\xfe", b"done-ish\n", b""):
        (d / "status").write_bytes(body)
        assert read_status(d) is None
    (d / "status").write_bytes(b"done\n")
    assert read_status(d) == "done"


def test_run_into_a_damaged_dir_starts_over(done_run):
    (done_run / "config.yaml").write_bytes(b"\xff")
    (done_run / "status").write_bytes(b"\xff")
    run_experiment("toy", {"width": 2}, out_dir=done_run)
    assert load_result(done_run).config["width"] == 2
