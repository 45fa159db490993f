import pytest
import torch

from depthlab import data


def test_mnist1d_standard_split_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPTHLAB_CACHE", str(tmp_path))
    ds = data.mnist1d()
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.y_train.dtype == torch.int64 and set(ds.y_train.tolist()) == set(range(10))
    assert ds.meta["seed"] == 42
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    again = data.mnist1d()
    assert torch.equal(again.x_train, ds.x_train)


def test_digits_split_is_seeded():
    a, b = data.digits(seed=1), data.digits(seed=1)
    assert a.x_train.shape[1] == 64 and len(a.x_train) + len(a.x_test) == 1797
    assert torch.equal(a.x_test, b.x_test)
    assert not torch.equal(a.x_test, data.digits(seed=2).x_test)
    assert float(a.x_train.max()) <= 1.0


def test_synthetic_targets():
    s = data.sawtooth_data(3, n_train=64, n_test=9)
    assert torch.allclose(
        s.y_test.squeeze(),
        torch.tensor([0, 1, 0, 1, 0, 1, 0, 1, 0], dtype=s.y_test.dtype),
        atol=1e-12,
    )
    p = data.product(4, n_train=10, n_test=5, seed=3)
    assert torch.allclose(p.y_train.squeeze(1), p.x_train.prod(1))
    assert float(p.x_train.min()) >= 0 and float(p.x_train.max()) <= 2
    t = data.tree_compositional(8, n_train=32, n_test=8, seed=0)
    assert t.y_train.shape == (32, 1)
    assert torch.equal(t.y_train, data.tree_compositional(8, n_train=32, n_test=8, seed=0).y_train)
    with pytest.raises(ValueError, match="power of two"):
        data.TreeFunction(6)


def test_tree_function_is_compositional():
    # Changing x1 leaves the right subtree's value (x3, x4) untouched: f depends on it via h12 only.
    f = data.TreeFunction(4, seed=0)
    x = torch.rand(5, 4, dtype=torch.float64)
    y = f(x)
    x2 = x.clone()
    x2[:, 0] += 0.1
    assert not torch.allclose(f(x2), y)


def test_torchvision_missing_gives_clear_error():
    try:
        import torchvision  # noqa: F401

        pytest.skip("torchvision importable here")
    except Exception:
        pass
    with pytest.raises(RuntimeError, match="needs torchvision"):
        data.torchvision_dataset("cifar10")
    with pytest.raises(ValueError, match="allowed: cifar10, mnist"):
        data.torchvision_dataset("imagenet")


def test_load_by_name():
    with pytest.raises(ValueError, match="allowed: mnist1d"):
        data.load("mnist2d")
