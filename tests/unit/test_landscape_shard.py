import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthlab import landscape, nets
from depthlab.init import initialize
from depthlab.testing import unchanged


def _setup():
    model = nets.mlp([5, 16, 16, 3]).double()
    initialize(model, "he_normal", torch.Generator().manual_seed(0), sigma_b2=0.01)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (200,), generator=g)
    dirs = (landscape.random_direction(model, seed=1), landscape.random_direction(model, seed=2))
    return model, (x, y), dirs


def test_sharded_surface_equals_one_process_and_leaves_model_alone(tmp_path):
    model, data, dirs = _setup()
    grid = landscape.Grid.plane(-1, 1, 7, 5)
    whole = landscape.surface(model, F.cross_entropy, data, dirs, grid)
    with unchanged(model):
        for backend, pieces in (("serial", 3), ("local", 2)):
            part = landscape.sharded_surface(
                model, F.cross_entropy, data, dirs, grid, pieces=pieces, backend=backend, jobs=2
            )
            assert part.loss.shape == (7, 5)
            torch.testing.assert_close(part.loss, whole.loss, rtol=1e-12, atol=0)
            torch.testing.assert_close(part.acc, whole.acc, rtol=0, atol=0)
    assert part.options["sharded_pieces"] == 2


def test_sharded_surface_resumes_from_stored_pieces(tmp_path):
    model, data, dirs = _setup()
    grid = landscape.Grid.line(-1, 1, 6)
    first = landscape.sharded_surface(
        model, F.cross_entropy, data, dirs[:1], grid, pieces=3, out_dir=tmp_path
    )
    assert len(list(tmp_path.glob("*.npy"))) == 3
    again = landscape.sharded_surface(
        model, F.cross_entropy, data, dirs[:1], grid, pieces=3, out_dir=tmp_path
    )
    torch.testing.assert_close(again.loss, first.loss, rtol=0, atol=0)


def test_surface_with_pieces_equals_one_process_and_records_the_sharding():
    model, data, dirs = _setup()
    grid = landscape.Grid.plane(-1, 1, 5, 4)
    whole = landscape.surface(model, F.cross_entropy, data, dirs, grid)
    part = landscape.surface(model, F.cross_entropy, data, dirs, grid, pieces=3)
    torch.testing.assert_close(part.loss, whole.loss, rtol=1e-12, atol=0)
    assert torch.equal(part.acc, whole.acc)
    assert part.options == {"sharded_pieces": 3, "backend": "serial", "num_gpus_per_piece": 0.0}
    assert part.computed_points == 20


def test_deprecated_aliases_warn_and_call_surface():
    model, data, dirs = _setup()
    grid = landscape.Grid.plane(-1, 1, 4, 3)
    whole = landscape.surface(model, F.cross_entropy, data, dirs, grid)
    with pytest.warns(DeprecationWarning, match="sharded_surface is deprecated"):
        old = landscape.sharded_surface(model, F.cross_entropy, data, dirs, grid, pieces=2)
    torch.testing.assert_close(old.loss, whole.loss, rtol=1e-12, atol=0)
    with pytest.warns(DeprecationWarning, match="surface_rows is deprecated"):
        rows = landscape.surface_rows(model, F.cross_entropy, data, dirs, grid, 1, 3)
    assert rows.shape == (2, 3, 2)
    np.testing.assert_allclose(rows[..., 0], whole.loss[1:3].numpy(), rtol=1e-12, atol=0)
    np.testing.assert_array_equal(rows[..., 1], whole.acc[1:3].numpy())


def test_a_partial_checkpoint_is_removed_after_success_and_another_name_is_kept(tmp_path):
    model, data, dirs = _setup()
    grid = landscape.Grid.line(-1, 1, 5)
    one = dirs[:1]
    scratch = tmp_path / "surface.partial"
    s = landscape.surface(model, F.cross_entropy, data, one, grid, checkpoint=scratch)
    assert not scratch.exists() and s.computed_points == 5
    kept = tmp_path / "surface.ckpt"
    landscape.surface(model, F.cross_entropy, data, one, grid, checkpoint=kept)
    assert kept.is_file()
    pieces = tmp_path / "pieces.partial"
    p = landscape.surface(model, F.cross_entropy, data, one, grid, pieces=2, checkpoint=pieces)
    assert not pieces.exists()
    torch.testing.assert_close(p.loss, s.loss, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="is a file"):
        landscape.surface(model, F.cross_entropy, data, one, grid, pieces=2, checkpoint=kept)
    kept_dir = tmp_path / "pieces"
    landscape.surface(model, F.cross_entropy, data, one, grid, pieces=2, checkpoint=kept_dir)
    assert len(list(kept_dir.glob("rows-*.npy"))) == 2
    with pytest.raises(ValueError, match="holds pieces of another surface"):
        landscape.surface(
            model, F.cross_entropy, data, dirs[1:], grid, pieces=2, checkpoint=kept_dir
        )
    with pytest.raises(ValueError, match="is a directory"):
        landscape.surface(model, F.cross_entropy, data, one, grid, checkpoint=kept_dir)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks a machine without GPUs")
def test_num_gpus_without_gpus_fails_at_once_in_one_line():
    model, data, dirs = _setup()
    grid = landscape.Grid.line(-1, 1, 4)
    with pytest.raises(RuntimeError, match="num_gpus=1 asks for a GPU per piece") as info:
        landscape.surface(
            model, F.cross_entropy, data, dirs[:1], grid, pieces=2, backend="ray", num_gpus=1
        )
    assert "\n" not in str(info.value)


def test_sharding_settings_without_pieces_are_refused():
    model, data, dirs = _setup()
    grid = landscape.Grid.line(-1, 1, 4)
    with pytest.raises(ValueError, match="backend, num_gpus apply only to a sharded surface"):
        landscape.surface(model, F.cross_entropy, data, dirs[:1], grid, backend="ray", num_gpus=1)
    with pytest.raises(ValueError, match="pieces must be between 1 and the grid's 4 rows"):
        landscape.surface(model, F.cross_entropy, data, dirs[:1], grid, pieces=5)
