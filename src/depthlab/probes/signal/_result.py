"""The result of a signal probe: per-layer statistics of ``M_j = ||x_j||^2 / n_j`` over inits."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
import torch

from depthlab._display import FrameRepr

__all__ = ["SignalMoments"]


@dataclass(frozen=True)
class SignalMoments(FrameRepr):
    """Per-layer signal statistics over ``K`` initializations.

    Attributes
    ----------
    widths : ``(n_0, ..., n_d)``; for the any-model path, the feature count at each probe point.
    layer_names : name of each probe point ``j = 0..d`` (``"input"``, ``"layer1"``, ...).
    m : ``(K, d + 1)`` tensor, ``M_j = ||x_j||^2 / n_j`` for every init (``m[:, 0] = M_0``).
    jac2, jac4 : ``(K, d)`` tensors or None: per init, the mean of ``Z^2`` and ``Z^4`` over the
        sampled Jacobian entries ``Z = d z_j[q] / d x_0[p]`` of layer ``j = 1..d`` (all ``q``,
        ``jac_inputs`` input indices ``p``). The any-model path has one column: the output.
    scheme, activation, engine : how the nets were drawn and run.
    etas : branch scales for residual nets, else None.
    """

    widths: tuple[int, ...]
    layer_names: tuple[str, ...]
    m: torch.Tensor
    jac2: torch.Tensor | None
    jac4: torch.Tensor | None
    scheme: str
    activation: str
    engine: str
    etas: tuple[float, ...] | None = None
    meta: dict = field(default_factory=dict)

    # ---- per-layer statistics across inits, each (d + 1,) --------------------------------
    @property
    def n_inits(self) -> int:
        return int(self.m.shape[0])

    @property
    def depth(self) -> int:
        return int(self.m.shape[1]) - 1

    @property
    def ratio(self) -> torch.Tensor:
        """``(K, d + 1)``: ``M_j / M_0`` per init."""
        return self.m / self.m[:, :1]

    @property
    def mean(self) -> torch.Tensor:
        """``E[M_j] / M_0``, shape ``(d + 1,)``."""
        return self.ratio.mean(0)

    @property
    def mean_se(self) -> torch.Tensor:
        """Standard error of :attr:`mean`."""
        return self.ratio.std(0) / math.sqrt(self.n_inits)

    @property
    def second(self) -> torch.Tensor:
        """``E[M_j^2] / M_0^2``, shape ``(d + 1,)``."""
        return (self.ratio**2).mean(0)

    @property
    def second_se(self) -> torch.Tensor:
        return (self.ratio**2).std(0) / math.sqrt(self.n_inits)

    @property
    def var(self) -> torch.Tensor:
        """``Var(M_j) / M_0^2`` across inits."""
        return self.ratio.var(0)

    @property
    def log_var(self) -> torch.Tensor:
        """``Var(log M_j)`` across inits (``-inf`` logs, a dead net, are dropped)."""
        lg = torch.log(self.ratio)
        lg = torch.where(torch.isfinite(lg), lg, torch.nan)
        mu = lg.nanmean(0)
        return ((lg - mu) ** 2).nanmean(0) * self.n_inits / max(self.n_inits - 1, 1)

    # ---- FM2: fluctuation over the layers of one net, each (K,) ---------------------------
    @property
    def layer_var(self) -> torch.Tensor:
        """Per init, the empirical variance of ``M_j / M_0`` over layers ``j = 1..d`` (Thm 2)."""
        r = self.ratio[:, 1:]
        return r.var(1, unbiased=False) if r.shape[1] > 1 else torch.zeros_like(r[:, 0])

    @property
    def layer_var_log(self) -> torch.Tensor:
        """Per init, the empirical variance of ``log M_j`` over layers ``j = 1..d``."""
        r = torch.log(self.ratio[:, 1:])
        return r.var(1, unbiased=False) if r.shape[1] > 1 else torch.zeros_like(r[:, 0])

    @property
    def layer_var_log_upto(self) -> torch.Tensor:
        """``(d + 1,)``: mean over inits of the variance of ``log M_i`` over layers ``i = 1..j``.

        The FM2 statistic of Hanin & Rolnick's Thm 2 read at every depth ``j`` (0 for ``j <= 1``).
        """
        lg = torch.log(self.ratio[:, 1:])  # (K, d)
        d = lg.shape[1]
        cnt = torch.arange(1, d + 1, dtype=lg.dtype, device=lg.device)
        mean = lg.cumsum(1) / cnt
        var = (lg.square().cumsum(1) / cnt - mean.square()).clamp_min(0).nanmean(0)
        return torch.cat([var.new_zeros(1), var])

    # ---- Jacobian entries, each (d,) ------------------------------------------------------
    @property
    def jac_second(self) -> torch.Tensor | None:
        """``E[Z_j^2]`` per layer."""
        return None if self.jac2 is None else self.jac2.mean(0)

    @property
    def jac_fourth(self) -> torch.Tensor | None:
        """``E[Z_j^4]`` per layer."""
        return None if self.jac4 is None else self.jac4.mean(0)

    @property
    def jac_kurtosis(self) -> torch.Tensor | None:
        """``E[Z_j^4] / E[Z_j^2]^2`` per layer (3 for Gaussian entries)."""
        if self.jac2 is None or self.jac4 is None:
            return None
        return self.jac_fourth / self.jac_second**2

    @property
    def beta(self) -> float:
        """``sum 1 / n_j`` over the hidden widths ``n_1 .. n_d``."""
        return float(sum(1.0 / n for n in self.widths[1:]))

    def to_frame(self) -> pd.DataFrame:
        """One row per probe point ``j = 0..d``: width, mean, SE, second moment, variances, Jacobian."""
        d1 = self.depth + 1
        cols = {
            "layer": list(range(d1)),
            "name": list(self.layer_names),
            "width": list(self.widths),
            "mean_m": self.mean.tolist(),
            "mean_m_se": self.mean_se.tolist(),
            "second_m": self.second.tolist(),
            "second_m_se": self.second_se.tolist(),
            "var_m": self.var.tolist(),
            "var_log_m": self.log_var.tolist(),
            "layer_var_log_upto": self.layer_var_log_upto.tolist(),
        }
        nan = [math.nan]
        for key, val in (
            ("jac_second", self.jac_second),
            ("jac_fourth", self.jac_fourth),
            ("jac_kurtosis", self.jac_kurtosis),
        ):
            if val is None:
                cols[key] = nan * d1
            else:
                vals = val.tolist()
                cols[key] = nan * (d1 - len(vals)) + vals
        df = pd.DataFrame(cols)
        df["n_inits"] = self.n_inits
        df["scheme"] = self.scheme
        df["activation"] = self.activation
        return df

    def __repr__(self) -> str:
        d = self.depth
        return (
            f"SignalMoments(K={self.n_inits}, d={d}, scheme={self.scheme}, "
            f"E[M_d]/M_0={float(self.mean[-1]):.4g}, E[M_d^2]/M_0^2={float(self.second[-1]):.4g}, "
            f"beta={self.beta:.4g})"
        )
