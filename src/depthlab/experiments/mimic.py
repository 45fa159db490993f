"""Mimic learning: can a shallow net learn what a deep net learned? (Ba & Caruana 2014; slide 21)

On MNIST-1D (generated locally, no download) we train:

- a deep teacher, the 1-D CNN ``depthlab.nets.cnn1d``, several times (seeds): one member is the
  single teacher, the mean logits of all members the ensemble teacher;
- a shallow one-hidden-layer MLP on the labels (SNN);
- the same MLP trained to regress the teacher's logits (SNN-MIMIC, L2 loss), from the single
  teacher and from the ensemble, and, for comparison, with Hinton's temperature KD loss;
  optionally on extra augmented inputs labelled by the ensemble;
- a deep MLP with three hidden layers on the labels (DNN), its width chosen so its parameter
  count matches the shallow net's.

The table follows Ba & Caruana's: model, parameters, test accuracy (mean ± std over seeds),
and training time (seconds per model: a batched run's wall time divided by the models in it).

Claims
------
1. The shallow mimic beats the same shallow net trained on labels.
2. An ensemble teacher helps the mimic further.

Each difference is judged against its standard error over seeds (stated in the claim); a claim
that does not hold at this scale is reported as such, with the gap.
The claims are built in ``_mimic_claims``; the conv nets and the parameter-matched width live in
``_mimic_nets``.

``--set dataset=cifar10`` runs the same rows on CIFAR-10 (inputs 3×32×32, standardised per
channel with the training set's mean and std) with a small conv teacher (``_ConvTeacher``: three
conv layers with max pooling, no BatchNorm), and adds Ba & Caruana's shallow *convolutional*
student: one conv layer with max pooling, then one hidden layer (``SNN-CNN``), trained on labels
and as a mimic of the ensemble. The files are read from a downloaded ``cifar-10-batches-py``
folder under ``--set data_dir=...`` or ``$DEPTHLAB_DATA`` (no torchvision needed); torchvision
only downloads a missing copy. Without files and torchvision it stops with a one-line error that
names the folder and how to get the data. CIFAR-10 at the default sizes is GPU work: on the CPU
use ``n_train`` / ``n_test`` and ``--quick`` (1000 / 500 images: about 100 s on one core, the
conv teachers and conv students taking most of it; measured on synthetic data in the CIFAR
format, as no CIFAR-10 copy was at hand).

Time budget: default about 2 min on 2 CPU cores (after MNIST-1D is cached); ``--quick`` under
10 s.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, ValidationInfo, field_validator
from torch import nn

from depthlab.config import ConfigError, ExperimentConfig, check_data_dir
from depthlab.context import RunContext
from depthlab.core import Claim, Result
from depthlab.data import load
from depthlab.data.base import Dataset
from depthlab.experiments._mimic_claims import mimic_claims
from depthlab.experiments._mimic_nets import _ConvStudent, _ConvTeacher, _deep_width, _mlp_params
from depthlab.experiments.base import register
from depthlab.init import initialize
from depthlab.mimic import Teacher, mimic
from depthlab.nets import CNN1D, count_params, mlp
from depthlab.train import TrainConfig
from depthlab.train_batched import fit_batched


class MimicConfig(ExperimentConfig):
    dataset: Literal["mnist1d", "digits", "cifar10"] = "mnist1d"
    data_dir: str | None = Field(
        None,
        description="cifar10: folder holding cifar-10-batches-py (None: $DEPTHLAB_DATA, else the cache)",
    )
    n_train: int | None = Field(None, ge=100, description="use the first n training examples")
    n_test: int | None = Field(None, ge=100, description="use the first n test examples")
    teachers: int = Field(4, ge=2, description="CNN teachers trained (the ensemble's size)")
    teacher_channels: int = Field(32, ge=1)
    teacher_epochs: int = Field(60, ge=1)
    teacher_lr: float = Field(3e-3, gt=0)
    teacher_batch_size: int = Field(256, ge=1)
    shallow_width: int = Field(256, ge=1, description="hidden units of the shallow MLP")
    deep_layers: int = Field(3, ge=2, description="hidden layers of the deep MLP")
    student_epochs: int = Field(60, ge=1)
    seeds: int = Field(3, ge=2, description="seeds per student row")
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(128, ge=1)
    temperature: float = Field(4.0, gt=0, description="temperature of the KD comparison row")
    extra_inputs: int = Field(
        4000, ge=0, description="augmented inputs labelled by the ensemble (0: skip that row)"
    )
    bottleneck: int = Field(
        16, ge=0, description="k linear units factoring the mimic's input layer (0: skip that row)"
    )
    conv_student_channels: int = Field(
        32,
        ge=0,
        description="cifar10: filters of the one-conv-layer student (SNN-CNN rows; 0: skip them)",
    )

    _quick_overrides = {
        "n_train": 1000,
        "n_test": 500,
        "teachers": 2,
        "teacher_channels": 16,
        "teacher_epochs": 6,
        "teacher_batch_size": 128,
        "shallow_width": 64,
        "student_epochs": 6,
        "seeds": 2,
        "lr": 3e-3,
        "extra_inputs": 500,
    }
    _tiny_overrides = {
        "n_train": 200,
        "n_test": 100,
        "teacher_channels": 4,
        "teacher_epochs": 2,
        "student_epochs": 1,
        "shallow_width": 16,
        "extra_inputs": 50,
    }

    @field_validator("data_dir")
    @classmethod
    def _data_dir_needs_cifar(cls, v: str | None, info: ValidationInfo) -> str | None:
        return check_data_dir(v, info.data.get("dataset"))


@register
class MimicLearning:
    name = "mimic"
    title = "Shallow nets mimicking deep teachers close part of the depth gap"
    section = "mimic"
    order = 10
    Config = MimicConfig

    def run(self, config: MimicConfig, ctx: RunContext) -> Result:
        data = self._load(config, ctx)
        d_in = int(np.prod(data.input_shape))
        n_cls = int(data.num_classes or int(data.y_train.max()) + 1)
        rows: list[dict] = []
        per_seed: dict[str, np.ndarray] = {}

        # ---- teachers: K CNNs trained together --------------------------------------------
        t_cfg = TrainConfig(
            lr=config.teacher_lr,
            epochs=config.teacher_epochs,
            batch_size=config.teacher_batch_size,
            schedule="cosine",
            eval_every=config.teacher_epochs,
        )
        teachers = [self._teacher(config, ctx, s) for s in range(config.teachers)]
        res = fit_batched(
            teachers,
            data,
            t_cfg,
            generators=[ctx.generator(100 + s) for s in range(config.teachers)],
            progress=ctx.progress,
            description="teachers",
        )
        t_acc = np.array([f["test_acc"] for f in res.finals])
        t_params = count_params(teachers[0])
        per_seed["teacher"] = t_acc
        rows.append(
            self._row("CNN (teacher)", "labels", t_params, t_acc, res.seconds / len(teachers))
        )
        single, ensemble = Teacher(teachers[0]), Teacher(teachers)
        ens_acc = ensemble.accuracy(data.x_test, data.y_test)
        rows.append(
            self._row(
                f"ensemble of {len(teachers)} CNNs (teacher)",
                "labels",
                t_params * len(teachers),
                np.array([ens_acc]),
                res.seconds,
            )
        )

        # ---- students -----------------------------------------------------------------------
        shallow_w = [d_in, config.shallow_width, n_cls]
        p_shallow = _mlp_params(shallow_w)
        h = _deep_width(d_in, n_cls, config.deep_layers, p_shallow)
        deep_w = [d_in] + [h] * config.deep_layers + [n_cls]
        s_cfg = TrainConfig(
            lr=config.lr,
            epochs=config.student_epochs,
            batch_size=config.batch_size,
            schedule="cosine",
            eval_every=config.student_epochs,
        )
        gens = lambda base: [ctx.generator(base + s) for s in range(config.seeds)]  # noqa: E731

        def students(widths: list[int], base: int) -> list[nn.Module]:
            return [self._mlp(widths, ctx, base + s) for s in range(config.seeds)]

        label = f"SNN 1×{config.shallow_width}"
        for name, widths, base in (
            (label, shallow_w, 1000),
            (f"DNN {config.deep_layers}×{h}", deep_w, 2000),
        ):
            ms = students(widths, base)
            r = fit_batched(ms, data, s_cfg, generators=gens(base), description=name)
            acc = np.array([f["test_acc"] for f in r.finals])
            per_seed[name] = acc
            rows.append(self._row(name, "labels", count_params(ms[0]), acc, r.seconds / len(ms)))

        mimic_runs = [
            ("mimic_single", f"{label}-MIMIC", "CNN logits (L2)", single, "l2", None),
            ("mimic_ensemble", f"{label}-MIMIC", "ensemble logits (L2)", ensemble, "l2", None),
            (
                "mimic_kd",
                f"{label}-MIMIC",
                f"ensemble, KD τ={config.temperature:g}",
                ensemble,
                "kd",
                None,
            ),
        ]
        if config.extra_inputs > 0:
            extra = self._augment(data.x_train, config.extra_inputs, ctx)
            mimic_runs.append(
                (
                    "mimic_extra",
                    f"{label}-MIMIC",
                    f"ensemble logits (L2) + {config.extra_inputs} augmented inputs",
                    ensemble,
                    "l2",
                    extra,
                )
            )
        if config.bottleneck > 0:
            mimic_runs.append(
                (
                    "mimic_bottleneck",
                    f"{label}-MIMIC, {config.bottleneck}-unit linear bottleneck",
                    "ensemble logits (L2)",
                    ensemble,
                    "l2",
                    None,
                )
            )
        for key, name, trained_on, teacher, loss, extra in mimic_runs:
            if key == "mimic_bottleneck":  # W = UV through k linear units (Ba & Caruana §2.2)
                ms = [
                    self._bottleneck(
                        d_in, config.bottleneck, config.shallow_width, n_cls, ctx, 3000 + s
                    )
                    for s in range(config.seeds)
                ]
            else:
                ms = students(shallow_w, 1000)  # the same initial nets as the SNN on labels
            r = mimic(
                ms,
                teacher,
                data,
                s_cfg,
                loss=loss,
                temperature=config.temperature,
                extra_inputs=extra,
                generators=gens(1000),
                progress=ctx.progress,
            )
            acc = np.array(r.test_acc)
            per_seed[key] = acc
            rows.append(
                self._row(
                    name,
                    trained_on,
                    count_params(ms[0]),
                    acc,
                    r.seconds / len(ms),
                    agreement=float(np.mean(r.agreement)),
                )
            )

        if config.dataset == "cifar10" and config.conv_student_channels > 0:
            rows += self._conv_student_rows(config, ctx, data, ensemble, s_cfg, n_cls, per_seed)

        table = pd.DataFrame(rows)
        seeds = pd.DataFrame(
            [
                {"row": k, "seed": i, "test_acc": float(v)}
                for k, a in per_seed.items()
                for i, v in enumerate(a)
            ]
        )
        claims = self._claims(per_seed, label, ens_acc, config)
        from depthlab.plots.depth import plot_mimic

        figures = plot_mimic(table, ctx.out_dir) if ctx.out_dir is not None else {}
        snn = per_seed[label].mean()
        gap = float(t_acc.mean() - snn)
        metrics = {
            "teacher_acc": float(t_acc.mean()),
            "ensemble_acc": ens_acc,
            "snn_labels_acc": float(snn),
            "snn_mimic_acc": float(per_seed["mimic_single"].mean()),
            "snn_mimic_ensemble_acc": float(per_seed["mimic_ensemble"].mean()),
            "gap_closed_fraction": float((per_seed["mimic_single"].mean() - snn) / gap)
            if gap > 0
            else float("nan"),
            "shallow_params": float(p_shallow),
            "deep_params": float(count_params(self._mlp(deep_w, ctx, 0))),
        }
        if not math.isfinite(metrics["gap_closed_fraction"]):
            metrics.pop("gap_closed_fraction")
        for key in ("snn_cnn_labels", "snn_cnn_mimic"):
            if key in per_seed:
                metrics[f"{key}_acc"] = float(per_seed[key].mean())
        return Result(
            self.name,
            config.model_dump(),
            claims,
            {"table": table, "seeds": seeds},
            figures,
            metrics,
        )

    # ---- helpers ----------------------------------------------------------------------------

    def _conv_student_rows(
        self,
        config: MimicConfig,
        ctx: RunContext,
        data: Dataset,
        ensemble: Teacher,
        s_cfg: TrainConfig,
        n_cls: int,
        per_seed: dict[str, np.ndarray],
    ) -> list[dict]:
        """CIFAR-10 only: the one-conv-layer student on labels and mimicking the ensemble."""
        c = config.conv_student_channels
        name = f"SNN-CNN {c}c-p-{config.shallow_width}"
        gens = [ctx.generator(4000 + s) for s in range(config.seeds)]
        rows = []
        ms = [self._conv_student(config, n_cls, ctx, 4000 + s) for s in range(config.seeds)]
        r = fit_batched(ms, data, s_cfg, generators=gens, description=name)
        acc = np.array([f["test_acc"] for f in r.finals])
        per_seed["snn_cnn_labels"] = acc
        rows.append(self._row(name, "labels", count_params(ms[0]), acc, r.seconds / len(ms)))
        ms = [self._conv_student(config, n_cls, ctx, 4000 + s) for s in range(config.seeds)]
        gens = [ctx.generator(4000 + s) for s in range(config.seeds)]
        m = mimic(ms, ensemble, data, s_cfg, loss="l2", generators=gens, progress=ctx.progress)
        acc = np.array(m.test_acc)
        per_seed["snn_cnn_mimic"] = acc
        rows.append(
            self._row(
                f"{name}-MIMIC",
                "ensemble logits (L2)",
                count_params(ms[0]),
                acc,
                m.seconds / len(ms),
                agreement=float(np.mean(m.agreement)),
            )
        )
        return rows

    @staticmethod
    def _conv_student(config: MimicConfig, n_cls: int, ctx: RunContext, seed: int) -> nn.Module:
        m = _ConvStudent(config.conv_student_channels, config.shallow_width, n_cls)
        initialize(m, "he_normal", ctx.generator(seed))
        return m.to(ctx.device, ctx.dtype)

    @staticmethod
    def _load(config: MimicConfig, ctx: RunContext) -> Dataset:
        try:
            data = load(config.dataset, seed=42, root=config.data_dir)
        except RuntimeError as exc:
            raise ConfigError(
                f"config error: dataset={config.dataset!r} cannot be loaded: {exc}"
            ) from None
        data = data.subset(config.n_train, config.n_test)
        return data.to(ctx.device, ctx.dtype)

    @staticmethod
    def _teacher(config: MimicConfig, ctx: RunContext, seed: int) -> nn.Module:
        if config.dataset == "cifar10":
            m: nn.Module = _ConvTeacher(config.teacher_channels)
        else:  # 1-D inputs: MNIST-1D (40 steps) or sklearn digits (64 pixels as a sequence)
            length = 64 if config.dataset == "digits" else 40
            m = CNN1D(channels=config.teacher_channels, length=length)
        initialize(m, "he_normal", ctx.generator(10 + seed))
        return m.to(ctx.device, ctx.dtype)

    @staticmethod
    def _mlp(widths: list[int], ctx: RunContext, seed: int) -> nn.Module:
        m = nn.Sequential(nn.Flatten(), mlp(widths, activation="relu"))
        initialize(m, "he_normal", ctx.generator(seed))
        return m.to(ctx.device, ctx.dtype)

    @staticmethod
    def _bottleneck(
        d_in: int, k: int, hidden: int, n_cls: int, ctx: RunContext, seed: int
    ) -> nn.Module:
        from depthlab.mimic import bottleneck_mlp

        m = bottleneck_mlp(d_in, k, hidden, n_cls)
        initialize(m, "he_normal", ctx.generator(seed))
        return m.to(ctx.device, ctx.dtype)

    @staticmethod
    def _augment(x: torch.Tensor, n: int, ctx: RunContext) -> torch.Tensor:
        """``n`` augmented copies of training inputs: a random circular shift of up to 3 steps
        along the last axis and Gaussian noise of 0.1 x the inputs' std; images (4-D inputs,
        CIFAR-10) are also flipped left-right with probability 1/2."""
        g = ctx.generator(77)
        idx = torch.randint(0, len(x), (n,), generator=g)
        shifts = torch.randint(-3, 4, (n,), generator=g)
        base = x[idx.to(x.device)]
        if x.dim() == 4:
            flip = (torch.rand(n, generator=g) < 0.5).to(x.device)
            base = torch.where(flip.view(-1, 1, 1, 1), base.flip(-1), base)
        out = torch.stack(
            [torch.roll(b, int(s), dims=-1) for b, s in zip(base, shifts, strict=True)]
        )
        noise = torch.randn(out.shape, generator=g, dtype=out.dtype).to(out.device)
        return out + 0.1 * float(x.std()) * noise

    @staticmethod
    def _row(
        model: str,
        trained_on: str,
        params: int,
        acc: np.ndarray,
        seconds: float,
        agreement: float | None = None,
    ) -> dict:
        return {
            "model": model,
            "trained_on": trained_on,
            "params": int(params),
            "test_acc_mean": float(acc.mean()),
            "test_acc_std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
            "seeds": len(acc),
            "train_seconds_per_model": float(seconds),
            "teacher_agreement": agreement,
        }

    @staticmethod
    def _claims(per_seed, label, ens_acc, config) -> list[Claim]:
        return mimic_claims(
            per_seed,
            label,
            ens_acc,
            seeds=config.seeds,
            temperature=config.temperature,
            extra_inputs=config.extra_inputs,
        )


__all__ = ["MimicConfig", "MimicLearning"]
