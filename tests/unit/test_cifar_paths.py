"""CIFAR-10 paths without torchvision and without a network.

A tiny synthetic CIFAR-10 is written in the real ``cifar-10-batches-py`` layout (pickled dicts
with ``data`` uint8 (N, 3072) and ``labels``) so the real reader is exercised; then the mimic and
landscape-skip experiments run on it end to end, in-process and through the CLI. Nothing here
downloads anything: torchvision is hidden wherever a missing copy could trigger a download.
"""

from __future__ import annotations

import io
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from depthlab import data
from depthlab.config import ConfigError
from depthlab.data import cifar as cifar_mod
from depthlab.runs import run_experiment

N_PER_BATCH = 40  # 5 x 40 = 200 training images
N_TEST = 100


def _images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    """``n`` class-dependent uint8 images as CIFAR rows: (n, 3072) = R plane, G plane, B plane."""
    labels = rng.integers(0, 10, size=n)
    img = rng.integers(0, 128, size=(n, 3, 32, 32))
    # A learnable signal (for convs and max pooling too): class k adds 120 to channel k % 3 in
    # the top 3 + 3k rows.
    for i, k in enumerate(labels):
        img[i, k % 3, : 3 + 3 * k, :] += 120
    return img.astype(np.uint8).reshape(n, 3072), [int(k) for k in labels]


class _Py2Pickler(pickle._Pickler):
    """Pickles like Python 2 did for the real CIFAR-10 files: every str and bytes as a byte
    string (``BINSTRING``), numpy globals under their 1.x module ``numpy.core.multiarray``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str

    def save_global(self, obj, name=None):
        module = obj.__module__.replace("numpy._core", "numpy.core")
        name = name or obj.__qualname__
        self.write(pickle.GLOBAL + module.encode() + b"\n" + name.encode() + b"\n")
        self.memoize(obj)

    dispatch[type] = save_global


def _dumps_py2(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_fake_cifar(
    root: Path, n_per_batch: int = N_PER_BATCH, n_test: int = N_TEST, seed: int = 0
) -> Path:
    """Write ``root/cifar-10-batches-py`` like the real download: Python-2 pickles (keys and
    strings are byte strings, numpy 1.x globals), except ``data_batch_2``, a Python-3 pickle with
    str keys, to cover that variant too."""
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for i in range(1, 6):
        x, y = _images(n_per_batch, rng)
        batch = {
            "batch_label": f"training batch {i} of 5",
            "labels": y,
            "data": x,
            "filenames": [f"img_{i}_{j}.png" for j in range(n_per_batch)],
        }
        blob = pickle.dumps(batch) if i == 2 else _dumps_py2(batch)
        (folder / f"data_batch_{i}").write_bytes(blob)
    x, y = _images(n_test, rng)
    (folder / "test_batch").write_bytes(
        _dumps_py2({"batch_label": "testing batch 1 of 1", "labels": y, "data": x})
    )
    meta = {
        "num_cases_per_batch": 10000,
        "label_names": list(cifar_mod.LABEL_NAMES),
        "num_vis": 3072,
    }
    (folder / "batches.meta").write_bytes(_dumps_py2(meta))
    return folder


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch) -> Path:
    """A synthetic copy under tmp_path, found through ``$DEPTHLAB_DATA``; torchvision hidden."""
    root = tmp_path / "data"
    write_fake_cifar(root)
    monkeypatch.setenv("DEPTHLAB_DATA", str(root))
    monkeypatch.setitem(sys.modules, "torchvision", None)  # never download, even if installed
    return root


# ---- the reader ------------------------------------------------------------------------------


def test_reader_gives_images_labels_and_per_channel_standardisation(fake_cifar):
    ds = data.cifar10()
    assert ds.x_train.shape == (5 * N_PER_BATCH, 3, 32, 32)
    assert ds.x_test.shape == (N_TEST, 3, 32, 32)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.num_classes == 10 and ds.input_shape == (3, 32, 32)
    assert ds.meta["label_names"][0] == "airplane" and len(ds.meta["label_names"]) == 10
    assert ds.meta["root"] == str(fake_cifar / "cifar-10-batches-py")

    # Raw pixels, by hand from the pickles: batch 1 row 0's red plane is pixels 0..1023.
    raw = pickle.loads(
        (fake_cifar / "cifar-10-batches-py" / "data_batch_1").read_bytes(), encoding="bytes"
    )
    raw_all = np.concatenate(
        [
            cifar_mod.read_batch(fake_cifar / "cifar-10-batches-py" / f"data_batch_{i}")[0]
            for i in range(1, 6)
        ]
    ).astype(np.float64)
    assert torch.equal(ds.y_train[:N_PER_BATCH], torch.tensor(raw[b"labels"]))

    # Per-channel standardisation with the train split's statistics, in [0, 1] units.
    p = raw_all / 255.0
    mean = p.mean(axis=(0, 2, 3))
    std = p.std(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(ds.meta["mean"], mean, rtol=1e-5)
    np.testing.assert_allclose(ds.meta["std"], std, rtol=1e-5)
    m3, s3 = mean[:, None, None], std[:, None, None]
    expect0 = (raw[b"data"][0].reshape(3, 32, 32) / 255.0 - m3) / s3
    np.testing.assert_allclose(ds.x_train[0].numpy(), expect0, atol=1e-5)
    xt = ds.x_train.double()
    np.testing.assert_allclose(xt.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(xt.std(dim=(0, 2, 3)).numpy(), 1.0, atol=1e-5)

    plain = data.cifar10(normalize=False)
    assert float(plain.x_train.min()) >= 0.0 and float(plain.x_train.max()) <= 1.0
    assert plain.meta["mean"] is None
    # the test split uses the train statistics
    m = torch.tensor(ds.meta["mean"]).view(1, 3, 1, 1)
    s = torch.tensor(ds.meta["std"]).view(1, 3, 1, 1)
    torch.testing.assert_close(ds.x_test, (plain.x_test - m) / s, atol=1e-5, rtol=0)


def test_root_argument_load_by_name_and_the_batches_folder_itself(fake_cifar, monkeypatch):
    monkeypatch.delenv("DEPTHLAB_DATA")
    folder = fake_cifar / "cifar-10-batches-py"
    a = data.cifar10(root=fake_cifar)
    b = data.cifar10(root=folder)  # pointing at cifar-10-batches-py itself works too
    c = data.load("cifar10", root=str(fake_cifar))
    d = data.torchvision_dataset("cifar10", root=str(fake_cifar))
    for other in (b, c, d):
        assert torch.equal(a.x_train, other.x_train) and torch.equal(a.y_test, other.y_test)
    assert data.cifar_root(fake_cifar) == fake_cifar


def test_missing_copy_is_one_clear_line_naming_the_path_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    empty = tmp_path / "nothing-here"
    monkeypatch.setenv("DEPTHLAB_DATA", str(empty))
    for call in (lambda: data.cifar10(), lambda: data.cifar10(root=empty, download=False)):
        with pytest.raises(RuntimeError) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg
        assert str(empty / "cifar-10-batches-py") in msg
        assert "cifar-10-python.tar.gz" in msg and "DEPTHLAB_DATA" in msg
    with pytest.raises(RuntimeError, match="needs torchvision"):
        data.cifar10()
    with pytest.raises(RuntimeError, match="needs torchvision"):
        data.torchvision_dataset("cifar10")


def test_bad_files_are_named(tmp_path):
    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(
        ValueError, match=r"data_batch_1: 'data' must be uint8 of shape \(N, 3072\)"
    ):
        cifar_mod.read_batch(bad)
    bad.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}))
    with pytest.raises(ValueError, match=r"ints in 0\.\.9"):
        cifar_mod.read_batch(bad)
    bad.write_bytes(pickle.dumps({"pixels": 1}))
    with pytest.raises(ValueError, match="needs data, labels"):
        cifar_mod.read_batch(bad)
    bad.write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="not a readable CIFAR-10 batch"):
        cifar_mod.read_batch(bad)


def test_reader_refuses_pickles_that_would_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "data_batch_1"
    bad.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(ValueError, match=r"builtins\.print is not allowed"):
        cifar_mod.read_batch(bad)


# ---- the experiments on the synthetic copy -----------------------------------------------------

TINY_MIMIC = {
    "dataset": "cifar10",
    "n_train": 200,
    "n_test": 100,
    "teacher_channels": 4,
    "teacher_epochs": 2,
    "student_epochs": 1,
    "shallow_width": 16,
    "extra_inputs": 50,
    "bottleneck": 4,
    "conv_student_channels": 4,
    "batch_size": 64,
}


def test_mimic_runs_on_cifar_with_conv_teacher_and_conv_student(fake_cifar, tmp_path, monkeypatch):
    from depthlab.experiments import mimic as mimic_exp

    seen: dict[str, list] = {"teacher": [], "student": [], "augmented": []}
    real_teacher, real_student = mimic_exp.MimicLearning._teacher, mimic_exp._ConvStudent.__init__
    real_aug = mimic_exp.MimicLearning._augment

    def teacher(config, ctx, seed):
        m = real_teacher(config, ctx, seed)
        seen["teacher"].append(m)
        return m

    def student(self, *a, **k):
        real_student(self, *a, **k)
        seen["student"].append(self)

    def augment(x, n, ctx):
        out = real_aug(x, n, ctx)
        seen["augmented"].append(out)
        return out

    monkeypatch.setattr(mimic_exp.MimicLearning, "_teacher", staticmethod(teacher))
    monkeypatch.setattr(mimic_exp._ConvStudent, "__init__", student)
    monkeypatch.setattr(mimic_exp.MimicLearning, "_augment", staticmethod(augment))

    res = run_experiment("mimic", TINY_MIMIC, out_dir=tmp_path / "m", quick=True)

    # The conv teacher (3x32x32 in, 10 logits out), 2 of them in --quick.
    assert len(seen["teacher"]) == 2
    assert all(isinstance(t, mimic_exp._ConvTeacher) for t in seen["teacher"])
    first = seen["teacher"][0].features[0]
    assert isinstance(first, torch.nn.Conv2d) and first.in_channels == 3
    assert seen["teacher"][0](torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    # Conv students: 2 seeds on labels + 2 mimicking, one conv layer of 4 filters, 64*4 features.
    assert len(seen["student"]) == 4
    assert seen["student"][0].features[0].out_channels == 4
    assert seen["student"][0].hidden[0].in_features == 64 * 4
    assert seen["augmented"][0].shape == (50, 3, 32, 32)

    t = res.tables["table"]
    models = list(t["model"])
    assert models == [
        "CNN (teacher)",
        "ensemble of 2 CNNs (teacher)",
        "SNN 1×16",
        f"DNN 3×{models[3].split('×')[1]}",
        "SNN 1×16-MIMIC",
        "SNN 1×16-MIMIC",
        "SNN 1×16-MIMIC",
        "SNN 1×16-MIMIC",
        "SNN 1×16-MIMIC, 4-unit linear bottleneck",
        "SNN-CNN 4c-p-16",
        "SNN-CNN 4c-p-16-MIMIC",
    ]
    # Shallow MLP on flattened 3x32x32 inputs: 3072*16 + 16 + 16*10 + 10 parameters.
    assert int(t.loc[2, "params"]) == 3072 * 16 + 16 + 16 * 10 + 10
    conv_params = (3 * 25 * 4 + 4) + (64 * 4 * 16 + 16) + (16 * 10 + 10)
    assert list(t["params"][-2:]) == [conv_params, conv_params]
    assert t["test_acc_mean"].between(0, 1).all() and (t["seeds"][2:] == 2).all()
    assert t["trained_on"].iloc[-1] == "ensemble logits (L2)"
    assert 0.0 <= float(t["teacher_agreement"].iloc[-1]) <= 1.0
    assert {c.id for c in res.claims} == {
        "ba-caruana-2014.mimic-beats-labels",
        "ba-caruana-2014.mimic-matches-deep-same-params",
        "ba-caruana-2014.ensemble-teacher-helps",
    }
    assert {"snn_cnn_labels_acc", "snn_cnn_mimic_acc"} <= set(res.metrics)
    assert res.config["dataset"] == "cifar10"
    assert (tmp_path / "m" / res.figures["mimic_accuracy"]).exists()


def test_landscape_skip_runs_on_cifar_with_cifar_resnets(fake_cifar, tmp_path, monkeypatch):
    from depthlab.experiments import landscape_skip as ls
    from depthlab.nets import CifarResNet

    built = []
    real_build = ls.build_net

    def build(config, depth, skip):
        net = real_build(config, depth, skip)
        built.append(net)
        return net

    monkeypatch.setattr(ls, "build_net", build)
    tiny = {
        "dataset": "cifar10",
        "n_train": 64,
        "n_test": 32,
        "n_eval": 32,
        "n_curvature": 16,
        "epochs": 1,
        "batch_size": 64,
        "grid_points": 3,
        "curvature_points": 1,
        "lanczos_iters": 2,
    }
    res = run_experiment("landscape-skip", tiny, out_dir=tmp_path / "s", quick=True)
    # --quick on cifar10 defaults to ResNet-8 and ResNet-14, each with and without skips.
    assert [(n.depth, n.skip) for n in built] == [(8, True), (8, False), (14, True), (14, False)]
    assert all(isinstance(n, CifarResNet) for n in built)
    nets = res.tables["nets"]
    assert list(zip(nets["depth"], nets["skip"], strict=True)) == [
        (8, True),
        (8, False),
        (14, True),
        (14, False),
    ]
    # ResNet-8 (one block per stage, 1x1 projection shortcuts) has more parameters with skips.
    p = dict(zip(zip(nets["depth"], nets["skip"], strict=True), nets["params"], strict=True))
    assert p[(8, True)] > p[(8, False)] and p[(14, False)] > p[(8, False)]
    assert len(res.tables["surfaces"]) == 4 * 9
    assert nets["test_acc"].between(0, 1).all() and np.isfinite(nets["center_loss"]).all()
    assert len(res.claims) == 3 and all(c.measured for c in res.claims)
    assert (tmp_path / "s" / "surfaces" / "d14-noskip.pt").exists()


def test_cli_runs_cifar_mimic_with_data_dir(tmp_path, monkeypatch):
    from depthlab.cli import app

    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.delenv("DEPTHLAB_DATA", raising=False)
    root = tmp_path / "somewhere"
    write_fake_cifar(root)
    sets = [
        "--set",
        "dataset=cifar10",
        "--set",
        f"data_dir={root}",
        "--set",
        "teacher_epochs=1",
        "--set",
        "student_epochs=1",
        "--set",
        "teacher_channels=2",
        "--set",
        "shallow_width=8",
        "--set",
        "extra_inputs=0",
        "--set",
        "bottleneck=0",
        "--set",
        "conv_student_channels=2",
    ]
    out = CliRunner().invoke(app, ["run", "mimic", "--quick", *sets, "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    import pandas as pd

    tables = list((tmp_path / "r").rglob("tables/table.parquet"))
    assert len(tables) == 1
    t = pd.read_parquet(tables[0])
    assert t["model"].iloc[-1] == "SNN-CNN 2c-p-8-MIMIC" and len(t) == 9  # no extra, no bottleneck


def test_cli_cifar_without_files_or_torchvision_exits_2_naming_the_folder(tmp_path, monkeypatch):
    from depthlab.cli import app

    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.delenv("DEPTHLAB_DATA", raising=False)
    missing = tmp_path / "no-cifar"
    for exp in ("mimic", "landscape-skip"):
        out = CliRunner().invoke(
            app,
            [
                "run",
                exp,
                "--quick",
                "--set",
                "dataset=cifar10",
                "--set",
                f"data_dir={missing}",
                "--out",
                str(tmp_path / exp),
            ],
        )
        assert out.exit_code == 2, out.output
        text = " ".join(out.output.split())  # Rich may wrap the one line at the terminal width
        assert "cifar-10-batches-py" in text and "torchvision" in text
        assert "depthlab[vision]" in text and "DEPTHLAB_DATA" in text
    with pytest.raises(ConfigError, match="cifar10"):
        run_experiment(
            "mimic",
            {"dataset": "cifar10", "data_dir": str(missing)},
            out_dir=tmp_path / "x",
            quick=True,
        )


@pytest.mark.parametrize("kind", ["teacher", "student"])
def test_conv_nets_train_batched_exactly_like_sequential_fit(kind):
    """The CIFAR conv teacher and SNN-CNN (conv + max pool under vmap) train in fit_batched with
    the same numbers as one plain ``fit`` per model (float64 reference)."""
    import copy

    from depthlab.experiments.mimic import _ConvStudent, _ConvTeacher
    from depthlab.init import initialize
    from depthlab.train import TrainConfig, fit
    from depthlab.train_batched import fit_batched

    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 3, 32, 32, generator=g, dtype=torch.float64)
    y = torch.randint(0, 10, (40,), generator=g)
    ds = data.Dataset(x[:24], y[:24], x[24:], y[24:], "classification", {"num_classes": 10})
    models = []
    for s in range(2):
        m = _ConvTeacher(2) if kind == "teacher" else _ConvStudent(2, 8)
        initialize(m, "he_normal", torch.Generator().manual_seed(10 + s))
        models.append(m.to(torch.float64))
    batched = copy.deepcopy(models)
    cfg = TrainConfig(lr=1e-2, epochs=2, batch_size=8, schedule="cosine")
    for m, s in zip(models, (5, 6), strict=True):
        fit(m, ds, cfg, generator=torch.Generator().manual_seed(s))
    fit_batched(batched, ds, cfg, generators=[torch.Generator().manual_seed(s) for s in (5, 6)])
    for ms, mb in zip(models, batched, strict=True):
        for (name, ps), pb in zip(ms.named_parameters(), mb.parameters(), strict=True):
            assert torch.allclose(ps, pb, rtol=1e-9, atol=1e-11), name


def test_cli_subprocess_reads_cifar_from_depthlab_data(tmp_path):
    """The installed entry point, in its own process, finds the copy through $DEPTHLAB_DATA."""
    import os
    import subprocess

    root = tmp_path / "data"
    write_fake_cifar(root, n_per_batch=20, n_test=100)
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "DEPTHLAB_DATA": str(root),
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    sets = {
        "dataset": "cifar10",
        "n_train": 100,
        "teacher_channels": 2,
        "teacher_epochs": 1,
        "student_epochs": 1,
        "shallow_width": 8,
        "extra_inputs": 0,
        "bottleneck": 0,
        "conv_student_channels": 0,
    }
    cmd = [
        sys.executable,
        "-m",
        "depthlab",
        "run",
        "mimic",
        "--quick",
        "--out",
        str(tmp_path / "r"),
    ]
    for k, v in sets.items():
        cmd += ["--set", f"{k}={v}"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import yaml

    (cfg,) = list((tmp_path / "r").rglob("config.yaml"))
    assert yaml.safe_load(cfg.read_text())["dataset"] == "cifar10"
    (table,) = list((tmp_path / "r").rglob("tables/table.parquet"))
    import pandas as pd

    t = pd.read_parquet(table)
    assert len(t) == 7 and not t.model.str.contains("SNN-CNN").any()  # conv student skipped
    assert int(t.params.iloc[2]) == 3072 * 8 + 8 + 8 * 10 + 10


@pytest.mark.parametrize("exp", ["mimic", "landscape-skip"])
def test_data_dir_without_cifar10_is_a_config_error(exp, tmp_path):
    with pytest.raises(ConfigError, match=r"key 'data_dir'.*only read with dataset=cifar10"):
        run_experiment(exp, {"data_dir": str(tmp_path)}, out_dir=tmp_path / "r", quick=True)
    assert not (tmp_path / "r").exists()  # rejected before a run directory is made
