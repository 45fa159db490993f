"""The run context: device, dtype, seed, progress and output directory, resolved once at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from depthlab.progress import QUIET, Progress

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU. ``cuda`` without a GPU is an error."""
    if isinstance(name, torch.device):
        return name
    if name not in DEVICE_CHOICES and not str(name).startswith("cuda:"):
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(name).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for, but torch sees no CUDA GPU here; use --device cpu"
        )
    return torch.device(name)


@dataclass
class RunContext:
    """Everything an experiment needs besides its config.

    Parameters
    ----------
    device : where tensors live; experiments never choose it themselves.
    dtype : floating dtype for models and data (float32 unless asked otherwise).
    seed : the run's seed; use :meth:`generator` for independent, reproducible streams.
    out_dir : the run directory; figures go to ``out_dir / "figures"``.
    quick : True under ``--quick``.
    progress : progress reporter (quiet off a TTY).
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    seed: int = 0
    out_dir: Path | None = None
    quick: bool = False
    progress: Progress = QUIET

    def generator(
        self, stream: int = 0, device: torch.device | str | None = "cpu"
    ) -> torch.Generator:
        """A fresh generator seeded from (seed, stream). Different streams are independent."""
        g = torch.Generator(device=device or self.device)
        g.manual_seed(self.seed * 1_000_003 + stream)
        return g

    @property
    def figure_dir(self) -> Path:
        if self.out_dir is None:
            raise RuntimeError("this context has no output directory; set out_dir to save figures")
        d = Path(self.out_dir) / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d
