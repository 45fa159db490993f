"""The run context: device, dtype, seed, progress and output directory, resolved once at the edge."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from depthlab.progress import QUIET, Progress

DEVICE_CHOICES = ("auto", "cpu", "cuda")
SEED_MAX = 2**63 - 1
Key = int | str | float


def check_seed(seed: object) -> int:
    """A run seed is a plain integer in ``0 .. 2**63 - 1`` (booleans are refused)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in 0..{SEED_MAX}, got {seed!r}")
    if not 0 <= int(seed) <= SEED_MAX:
        raise ValueError(f"seed must be in 0..{SEED_MAX}, got {seed}")
    return int(seed)


def _key_part(part: Key) -> str:
    if isinstance(part, bool) or not isinstance(part, (int, str, float, np.integer, np.floating)):
        raise TypeError(f"stream key parts must be int, str or float, got {part!r}")
    if isinstance(part, (int, np.integer)):
        return f"i{int(part)}"
    if isinstance(part, (float, np.floating)):
        return f"f{float(part).hex()}"
    return f"s{len(part)}:{part}"


def derive_seed(seed: int, *key: Key) -> int:
    """An independent 63-bit seed for the stream ``key`` of run ``seed``.

    The key is hashed (BLAKE2b over a typed encoding of its parts) and spread with
    :class:`numpy.random.SeedSequence`, so streams of different keys never share a seed by
    arithmetic accident, e.g. ``("fit", 512, 0)`` and ``("search", 5, 12, 1)``.
    """
    seed = check_seed(seed)
    text = "|".join(["depthlab-stream", str(seed), *(_key_part(k) for k in key)])
    digest = hashlib.blake2b(text.encode(), digest_size=16).digest()
    words = np.random.SeedSequence(int.from_bytes(digest, "little")).generate_state(2, np.uint32)
    return (int(words[0]) << 31 ^ int(words[1])) & SEED_MAX


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
    quick : True under ``--quick`` (and ``--scale tiny``).
    scale : ``"tiny"``, ``"quick"``, ``"default"`` or ``"paper"`` (see :data:`depthlab.config.SCALES`).
    progress : progress reporter (quiet off a TTY).
    """

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    dtype: torch.dtype = torch.float32
    seed: int = 0
    out_dir: Path | None = None
    quick: bool = False
    progress: Progress = QUIET
    scale: str = ""

    def __post_init__(self) -> None:
        self.seed = check_seed(self.seed)
        if not self.scale:
            self.scale = "quick" if self.quick else "default"

    def generator(self, *key: Key, device: torch.device | str | None = "cpu") -> torch.Generator:
        """A fresh torch generator for the stream ``key`` (a tuple of ints/strings) of this run.

        Name the call site in the key, e.g. ``ctx.generator("shallow-fit", width, seed)``;
        different keys give independent streams (see :func:`derive_seed`).
        """
        g = torch.Generator(device=device or self.device)
        g.manual_seed(derive_seed(self.seed, *(key or (0,))))
        return g

    def rng(self, *key: Key) -> np.random.Generator:
        """A numpy generator for the stream ``key`` (independent of :meth:`generator`'s)."""
        return np.random.default_rng(derive_seed(self.seed, "numpy", *(key or (0,))))

    @property
    def figure_dir(self) -> Path:
        if self.out_dir is None:
            raise RuntimeError("this context has no output directory; set out_dir to save figures")
        d = Path(self.out_dir) / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d
