"""The one progress layer (depthlab.progress) and the `depthlab` logger (issue 17 item 3)."""

from __future__ import annotations

import inspect
import io
import logging
import sys

import pytest
import torch

from depthlab import progress as prog
from depthlab import trajectory


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _not_quiet():
    prog.set_quiet(False)
    yield
    prog.set_quiet(False)


def test_off_when_stderr_is_not_a_tty(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert not prog.AUTO.enabled and not prog.QUIET.enabled
    assert list(prog.AUTO.track(range(5), "work")) == [0, 1, 2, 3, 4]
    assert err.getvalue() == ""


def test_on_with_a_fake_tty_and_draws_on_stderr(monkeypatch):
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    assert prog.AUTO.enabled
    assert not prog.QUIET.enabled  # QUIET never draws
    assert list(prog.AUTO.track(range(3), "counting sheep")) == [0, 1, 2]
    assert "counting sheep" in err.getvalue()


def test_set_quiet_turns_every_bar_off(monkeypatch):
    monkeypatch.setattr(sys, "stderr", FakeTTY())
    prog.set_quiet(True)
    assert not prog.AUTO.enabled
    prog.set_quiet(False)
    assert prog.AUTO.enabled


def test_nested_bars_share_one_display(monkeypatch):
    """A fit inside `reproduce`: the inner bar becomes a row of the outer one (no LiveError)."""
    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    seen = [
        (i, j)
        for i in prog.AUTO.track(range(2), "outer")
        for j in prog.AUTO.track(range(3), "inner")
    ]
    assert len(seen) == 6
    assert "outer" in err.getvalue()
    assert prog._LIVE == []  # everything stopped


def test_resolve_and_defaults():
    from depthlab import fit
    from depthlab.landscape import surface

    assert prog.resolve(None) is prog.AUTO and prog.resolve(True) is prog.AUTO
    assert prog.resolve(False) is prog.QUIET
    # the README promises a bar on a terminal by default
    assert inspect.signature(fit).parameters["progress"].default is prog.AUTO
    assert inspect.signature(surface).parameters["progress"].default is prog.AUTO


def test_cap_reached_is_logged_on_the_depthlab_logger(caplog):
    net = torch.nn.Sequential(torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    u0, u1 = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))
    with caplog.at_level(logging.WARNING, logger="depthlab"):
        res = trajectory.length(
            net, trajectory.great_circle(u0, u1, radius=3.0), tol=1e-14, n0=8, max_points=32
        )
    assert not res.converged and res.achieved_tol > 1e-14
    hits = [r for r in caplog.records if r.name == "depthlab" and "max_points=32" in r.message]
    assert len(hits) == 1 and hits[0].levelno == logging.WARNING


def test_library_logger_has_a_null_handler_only():
    log = logging.getLogger("depthlab")
    assert any(isinstance(h, logging.NullHandler) for h in log.handlers)


def test_adopt_makes_library_bars_rows_of_a_callers_bar(monkeypatch):
    """The sweep's own Rich bar: a fit inside a cell adds a row to it, then removes it."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress

    err = FakeTTY()
    monkeypatch.setattr(sys, "stderr", err)
    outer = RichProgress(console=Console(file=err, force_terminal=True))
    outer.start()
    try:
        with prog.adopt(outer):
            seen = []
            for i in prog.AUTO.track(range(4), "cell fit"):
                seen.append((i, [t.description for t in outer.tasks]))
    finally:
        outer.stop()
    assert [i for i, _ in seen] == [0, 1, 2, 3]
    assert all(d == ["cell fit"] for _, d in seen)
    assert outer.tasks == [] and prog._LIVE == []


def test_landscape_batch_size_decision_is_logged(caplog):
    import torch.nn.functional as F

    from depthlab import landscape
    from depthlab.landscape import SurfaceOptions

    net = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 2, (64,), generator=torch.Generator().manual_seed(1))
    dirs = (landscape.random_direction(net, seed=0),)
    opts = SurfaceOptions(batch_size=64, memory_budget=4096)  # a few samples' activations
    with caplog.at_level(logging.INFO, logger="depthlab"):
        s = landscape.surface(
            net, F.cross_entropy, (x, y), dirs, landscape.Grid.line(-1, 1, 3), options=opts
        )
    hits = [r.message for r in caplog.records if "batch size" in r.message]
    assert len(hits) == 1 and "(asked 64)" in hits[0]
    assert s.options["batch_size"] < 64


def test_on_in_a_jupyter_kernel_without_a_tty(monkeypatch):
    import types

    class ZMQInteractiveShell:  # the kernel's shell class name is what is checked
        pass

    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: ZMQInteractiveShell()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not prog.AUTO.enabled
    monkeypatch.setitem(sys.modules, "IPython", fake)
    assert prog.in_notebook() and prog.AUTO.enabled
    fake.get_ipython = lambda: None  # plain `python` with IPython merely imported
    assert not prog.AUTO.enabled
