"""Sharding one computation by rows: split, compute pieces anywhere, reassemble, resume."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest

from depthlab.parallel.shard import reassemble, run_sharded, split_rows


def surface_rows(alphas: np.ndarray, betas: np.ndarray, start: int, stop: int) -> np.ndarray:
    """A stand-in for a loss surface: rows start..stop of f(a, b) on a grid, shape (rows, nx)."""
    b = betas[start:stop, None]
    a = alphas[None, :]
    return np.sin(3 * a) * np.cos(2 * b) + 0.1 * (a**2 + b**2)


def test_split_rows_tiles_exactly():
    for n in range(1, 30):
        for k in range(1, 9):
            ranges = split_rows(n, k)
            assert ranges[0][0] == 0 and ranges[-1][1] == n
            assert all(a < b for a, b in ranges)
            assert all(r1[1] == r2[0] for r1, r2 in zip(ranges[:-1], ranges[1:], strict=True))
            sizes = [b - a for a, b in ranges]
            assert max(sizes) - min(sizes) <= 1 and len(ranges) == min(n, k)


def test_reassemble_refuses_gaps_and_overlaps():
    x = np.arange(10.0)[:, None]
    with pytest.raises(ValueError, match="gap at row 3"):
        reassemble([(0, 3, x[:3]), (4, 10, x[4:])], 10)
    with pytest.raises(ValueError, match="overlap"):
        reassemble([(0, 5, x[:5]), (4, 10, x[4:])], 10)
    with pytest.raises(ValueError, match=r"expected 0\.\.10"):
        reassemble([(0, 5, x[:5])], 10)


@pytest.mark.parametrize("backend", ["serial", "local"])
def test_sharded_surface_equals_one_process(backend, tmp_path):
    alphas, betas = np.linspace(-1, 1, 7), np.linspace(-1, 1, 11)
    fn = partial(surface_rows, alphas, betas)
    whole = fn(0, len(betas))
    got = run_sharded(fn, len(betas), pieces=4, backend=backend, jobs=2)
    assert got.shape == (11, 7)
    np.testing.assert_array_equal(got, whole)


def test_sharded_pieces_on_disk_are_reused(tmp_path):
    alphas, betas = np.linspace(-1, 1, 5), np.linspace(-1, 1, 9)
    fn = partial(surface_rows, alphas, betas)
    first = run_sharded(fn, 9, pieces=3, out_dir=tmp_path)
    assert len(list(tmp_path.glob("rows-*.npy"))) == 3
    # Corrupt nothing, but prove the pieces are read back: a function that would fail is never called.
    again = run_sharded(partial(_boom), 9, pieces=3, out_dir=tmp_path)
    np.testing.assert_array_equal(first, again)


def _boom(start: int, stop: int) -> np.ndarray:
    raise AssertionError("should not be recomputed")


def test_failed_piece_names_its_rows():
    with pytest.raises(RuntimeError, match="piece rows 0:2 failed"):
        run_sharded(_boom, 4, pieces=2)
