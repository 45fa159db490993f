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
