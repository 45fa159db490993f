"""Mimic learning: train a student on a teacher's logits (Ba & Caruana 2014).

The student regresses the teacher's pre-softmax logits ``z`` with squared error,

    L = 1/(2T) sum_t ||g(x_t) − z_t||²                                  (Ba & Caruana 2014, eq. 1)

(``loss="l2"``, the default). ``loss="kd"`` is Hinton et al.'s (2015) temperature distillation
for comparison, ``τ² KL(softmax(z/τ) || softmax(g/τ))``, which tends to the L2 objective on
zero-mean logits as ``τ -> ∞``.

- The teacher is any model, or an ensemble (:class:`Teacher` averages the members' logits).
- Its logits are computed once, without gradients, in eval mode (restored afterwards), and
  kept on the data's device; :class:`Teacher` caches the last inputs it labelled.
- Extra unlabeled or augmented inputs can be added; the teacher labels them.
- :func:`bottleneck_mlp` factors a shallow student's input layer ``W = UV`` through k linear
  units, which speeds training without adding capacity (Ba & Caruana, Sec. 2.2).
- Several students of one architecture (seeds) train together with
  :func:`depthlab.train_batched.fit_batched`.

References
----------
Ba & Caruana 2014, "Do deep nets really need to be deep?", NeurIPS.
Hinton, Vinyals & Dean 2015, "Distilling the knowledge in a neural network".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import pandas as pd
import torch
from torch import nn
from torch.func import functional_call, vmap

from depthlab._display import FrameRepr
from depthlab._guard import guarded, raise_if_nonfinite
from depthlab.data.base import Dataset
from depthlab.nets.activations import activation_module
from depthlab.progress import QUIET, Progress
from depthlab.train import TrainConfig
from depthlab.train_batched import fit_batched

MIMIC_LOSSES: tuple[str, ...] = ("l2", "kd")
_FIT_CHUNK = 8192  # training inputs per forward pass when measuring the fit agreement


def l2_logit_loss(out: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Ba & Caruana's objective: ``0.5 * mean_t ||out_t − z_t||²``; ``out, z`` are ``(B, C)``."""
    return 0.5 * ((out - z) ** 2).sum(dim=1).mean()


def kd_loss(temperature: float = 4.0) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Hinton et al.'s loss ``τ² KL(softmax(z/τ) || softmax(out/τ))``, averaged over the batch."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    t = float(temperature)

    def loss(out: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(out / t, dim=1)
        log_q = torch.log_softmax(z / t, dim=1)
        return (t * t) * (log_q.exp() * (log_q - log_p)).sum(dim=1).mean()

    return loss


class Teacher:
    """A model or an ensemble of models whose (mean) logits a student mimics.

    Parameters
    ----------
    models : one module, or several with the same output size; the logits are their mean.
    batch_size : inputs per forward pass when labelling.

    Labelling runs under ``no_grad`` in eval mode under the probe guard
    (:mod:`depthlab.probes._guard`): every submodule's mode, the buffers and ``.grad`` come back
    exactly, the members' own hooks do not fire, and a member holding NaN/Inf (or whose logits
    go non-finite) raises :class:`~depthlab.numerics.NonFiniteError` naming the layer. The result
    stays on the inputs' device. The last labelled inputs are cached, so asking for
    the same tensor twice does not run the teacher again.
    """

    def __init__(self, models: nn.Module | Sequence[nn.Module], batch_size: int = 4096) -> None:
        self.models = [models] if isinstance(models, nn.Module) else list(models)
        if not self.models:
            raise ValueError("a teacher needs at least one model")
        self.batch_size = int(batch_size)
        self._key: tuple | None = None
        self._logits: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.models)

    @staticmethod
    def _key_of(x: torch.Tensor) -> tuple:
        return (x.data_ptr(), tuple(x.shape), x.dtype, str(x.device), x._version)

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Mean logits ``(N, C)`` of the members on ``x`` ``(N, *in)``."""
        key = self._key_of(x)
        if key == self._key and self._logits is not None:
            return self._logits
        total = None
        with guarded(*self.models, what="mimic.Teacher.logits"):
            for m in self.models:
                m.eval()  # the guard restores every submodule's own mode afterwards
                out = torch.cat(
                    [m(x[i : i + self.batch_size]) for i in range(0, len(x), self.batch_size)]
                )
                raise_if_nonfinite(
                    m, x, out, "mimic.Teacher.logits: the teacher's logits", self.batch_size
                )
                total = out if total is None else total + out
        z = total / len(self.models)
        self._key, self._logits = key, z
        return z

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Test accuracy of the (ensemble) teacher."""
        return float((self.logits(x).argmax(dim=1) == y).float().mean())


def bottleneck_mlp(
    in_features: int,
    k: int,
    hidden: int,
    out_features: int,
    activation: str = "relu",
) -> nn.Sequential:
    """A one-hidden-layer MLP whose input layer is factored ``W = UV`` through k linear units.

    ``Flatten -> Linear(in, k, bias=False) -> Linear(k, hidden) -> act -> Linear(hidden, out)``.
    The k units are linear, so the function class is the rank-k restriction of the shallow net.
    """
    if min(in_features, k, hidden, out_features) < 1:
        raise ValueError(
            f"sizes must be positive, got in={in_features}, k={k}, hidden={hidden}, "
            f"out={out_features}"
        )
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, k, bias=False),
        nn.Linear(k, hidden),
        activation_module(activation),
        nn.Linear(hidden, out_features),
    )


@dataclass(frozen=True)
class MimicResult(FrameRepr):
    """What :func:`mimic` returns.

    Attributes
    ----------
    test_acc : per student, test accuracy on the true labels.
    agreement : per student, fraction of test inputs where its argmax equals the teacher's.
    teacher_test_acc : the (ensemble) teacher's test accuracy.
    n_inputs : training inputs the students saw (training set plus extra inputs).
    loss : ``"l2"`` or ``"kd"``.
    seconds : wall time of the student training (all students together).
    history : per (student, evaluation) training history from ``fit_batched``.
    fit_agreement : per student, fraction of its own training inputs (training set plus extra
        inputs) where its argmax equals the teacher's: how well it fits the function it mimics.
    """

    test_acc: list[float]
    agreement: list[float]
    teacher_test_acc: float
    n_inputs: int
    loss: str
    seconds: float
    history: pd.DataFrame
    fit_agreement: list[float] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """One row per student: student, test_acc, agreement, fit_agreement (NaN where not
        measured), teacher_test_acc, loss, n_inputs."""
        fit = self.fit_agreement or [float("nan")] * len(self.test_acc)
        return pd.DataFrame(
            {
                "student": range(len(self.test_acc)),
                "test_acc": self.test_acc,
                "agreement": self.agreement,
                "fit_agreement": fit,
                "teacher_test_acc": self.teacher_test_acc,
                "loss": self.loss,
                "n_inputs": self.n_inputs,
            }
        )

    def __repr__(self) -> str:
        acc = torch.tensor(self.test_acc, dtype=torch.float64)
        sd = float(acc.std()) if len(acc) > 1 else 0.0
        return (
            f"MimicResult(student acc={float(acc.mean()):.4f}±{sd:.4f} over {len(acc)}, "
            f"teacher acc={self.teacher_test_acc:.4f}, loss={self.loss})"
        )


def mimic(
    students: nn.Module | Sequence[nn.Module],
    teacher: Teacher | nn.Module | Sequence[nn.Module],
    data: Dataset,
    config: TrainConfig | None = None,
    *,
    loss: Literal["l2", "kd"] = "l2",
    temperature: float = 4.0,
    extra_inputs: torch.Tensor | None = None,
    generators: Sequence[torch.Generator] | None = None,
    progress: Progress = QUIET,
) -> MimicResult:
    """Train students (in place) to mimic ``teacher``'s logits on ``data``'s training inputs.

    Parameters
    ----------
    students : one module or several of one architecture (e.g. seeds), on the data's device;
        no BatchNorm or dropout (they train together, see :func:`~depthlab.train_batched.fit_batched`).
    teacher : a :class:`Teacher`, a model, or a list of models (an ensemble: mean logits).
    data : classification data; ``y_test`` labels measure the students' accuracy.
    config : training settings; ``config.loss`` is ignored (the mimic loss replaces it).
    loss : ``"l2"`` (Ba & Caruana, default) or ``"kd"`` (Hinton, temperature ``temperature``).
    extra_inputs : ``(M, *in)`` unlabeled or augmented inputs, labelled by the teacher and added
        to the training inputs.
    generators : one per student, seeding its mini-batch order.

    Returns
    -------
    :class:`MimicResult`.
    """
    if loss not in MIMIC_LOSSES:
        raise ValueError(f"unknown mimic loss {loss!r}; allowed: {', '.join(MIMIC_LOSSES)}")
    if data.y_test.dtype != torch.int64:
        raise ValueError("mimic needs classification data (int64 labels) to score the students")
    studs = [students] if isinstance(students, nn.Module) else list(students)
    t = teacher if isinstance(teacher, Teacher) else Teacher(teacher)
    x = data.x_train
    if extra_inputs is not None:
        if tuple(extra_inputs.shape[1:]) != tuple(x.shape[1:]):
            raise ValueError(
                f"extra_inputs have shape {tuple(extra_inputs.shape[1:])} per example; "
                f"the training inputs have {tuple(x.shape[1:])}"
            )
        x = torch.cat([x, extra_inputs.to(device=x.device, dtype=x.dtype)])
    z = t.logits(x)  # (N, C), computed once, on the data's device
    train_data = replace(data, x_train=x, y_train=z.argmax(dim=1))
    cfg = (config or TrainConfig()).model_copy(update={"loss": "logit_l2"})
    loss_fn = l2_logit_loss if loss == "l2" else kd_loss(temperature)
    res = fit_batched(
        studs,
        train_data,
        cfg,
        generators=generators,
        targets=z,
        loss_fn=loss_fn,
        progress=progress,
        description=f"mimic ({loss})",
    )
    z_test = t.logits(data.x_test).argmax(dim=1)
    teacher_acc = float((z_test == data.y_test).float().mean())

    def fwd(p, xx):
        return functional_call(studs[0], p, (xx,))

    with torch.no_grad():
        out = vmap(fwd, in_dims=(0, None))(res.params, data.x_test)  # (K, N_test, C)
        pred = out.argmax(dim=-1)
        acc = (pred == data.y_test).float().mean(dim=1)
        agree = (pred == z_test).float().mean(dim=1)
        z_fit = z.argmax(dim=1)
        hits = torch.zeros(len(studs), device=z.device)
        for i in range(0, len(x), _FIT_CHUNK):  # chunks: (K, chunk, hidden) stays small
            p = vmap(fwd, in_dims=(0, None))(res.params, x[i : i + _FIT_CHUNK]).argmax(dim=-1)
            hits += (p == z_fit[i : i + _FIT_CHUNK]).float().sum(dim=1)
        fit = hits / len(x)
    return MimicResult(
        test_acc=[float(a) for a in acc],
        agreement=[float(a) for a in agree],
        teacher_test_acc=teacher_acc,
        n_inputs=len(x),
        loss=loss,
        seconds=res.seconds,
        history=res.history,
        fit_agreement=[float(a) for a in fit],
    )
