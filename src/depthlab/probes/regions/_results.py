"""The result types of the region probes: :class:`Regions1D`, :class:`Regions1DBatch`,
:class:`Plane`, :class:`Regions2D`, :class:`BoundaryDistance`, and :func:`pattern_hash`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from depthlab import pl
from depthlab._display import FrameRepr
from depthlab.probes.regions._mesh import _shoelace


class RegionLimitError(RuntimeError):
    """``count_2d`` met more regions than ``max_regions``."""


@dataclass(frozen=True)
class Regions1D(FrameRepr):
    """Exact activation regions along one segment ``x(t) = start + t (end - start)``.

    Attributes
    ----------
    n_regions : number of pieces (regions met by the segment).
    breakpoints : (n_regions - 1,) float64 interior kink parameters ``t`` in (0, 1).
    length : Euclidean length of the segment in input space.
    patterns : (n_regions, units) int64 activation state of each piece (see
        :class:`depthlab.pl.Patterns`); ``sites`` names the nonlinear layers.
    outputs : (n_regions + 1, *out) model outputs at ``[0, breakpoints..., 1]``.
    """

    n_regions: int
    breakpoints: torch.Tensor
    length: float
    patterns: torch.Tensor = field(repr=False)
    outputs: torch.Tensor = field(repr=False)
    sites: tuple[str, ...] = field(repr=False, default=())

    @property
    def density(self) -> float:
        """Regions per unit length."""
        return self.n_regions / self.length if self.length > 0 else math.nan

    def to_frame(self) -> pd.DataFrame:
        """One row per piece: ``piece, t_start, t_end, pattern_hash``."""
        t = torch.cat(
            [self.breakpoints.new_zeros(1), self.breakpoints, self.breakpoints.new_ones(1)]
        )
        return pd.DataFrame(
            {
                "piece": np.arange(self.n_regions),
                "t_start": t[:-1].cpu().numpy(),
                "t_end": t[1:].cpu().numpy(),
                "pattern_hash": pattern_hash(self.patterns).cpu().numpy(),
            }
        )

    def __repr__(self) -> str:
        return f"Regions1D(n_regions={self.n_regions}, length={self.length:.4g})"


@dataclass(frozen=True)
class Regions1DBatch(FrameRepr):
    """Exact region counts along many segments.

    Attributes
    ----------
    n_regions : (S,) int64 pieces per segment.
    lengths : (S,) float64 segment lengths in input space.
    trace : the underlying :class:`depthlab.pl.PLTrace` (breakpoints of every segment).
    """

    n_regions: torch.Tensor
    lengths: torch.Tensor
    trace: pl.PLTrace = field(repr=False)

    @property
    def density(self) -> torch.Tensor:
        """(S,) regions per unit length."""
        return self.n_regions.to(torch.float64) / self.lengths

    def to_frame(self) -> pd.DataFrame:
        """One row per segment: ``segment, n_regions, length, density``."""
        return pd.DataFrame(
            {
                "segment": np.arange(len(self.n_regions)),
                "n_regions": self.n_regions.cpu().numpy(),
                "length": self.lengths.cpu().numpy(),
                "density": self.density.cpu().numpy(),
            }
        )

    def __repr__(self) -> str:
        return (
            f"Regions1DBatch(segments={len(self.n_regions)}, "
            f"mean n_regions={float(self.n_regions.double().mean()):.4g})"
        )


def pattern_hash(patterns: torch.Tensor) -> torch.Tensor:
    """A stable 31-bit hash of each row of an integer pattern matrix (R, U) -> (R,) int64.

    The weights come from a fixed-seed generator, so a pattern gets the same hash (and colour)
    in every run and on every device.
    """
    u = patterns.shape[1]
    g = torch.Generator().manual_seed(20190125)
    w = torch.randint(1, 2**31 - 1, (u,), generator=g, dtype=torch.int64).to(patterns.device)
    h = (patterns.to(torch.int64) + 1) * w
    return (h.sum(dim=1) * 2654435761 + u) % (2**31 - 1)


@dataclass(frozen=True)
class Plane:
    """An affine 2-D slice of input space: ``x(u, v) = origin + u * basis[0] + v * basis[1]``.

    For three points the convention is regioncam's: ``basis`` is Gram-Schmidt of
    ``(p1 - p0, p2 - p0)`` and ``origin`` centres the points' bounding box in plane coordinates.
    """

    origin: torch.Tensor  # (*input_shape)
    basis: torch.Tensor  # (2, *input_shape), orthonormal rows (identity for 2-D inputs)

    @classmethod
    def through(cls, points: torch.Tensor) -> Plane:
        p = points.double()
        flat = p.flatten(1)
        e1 = flat[1] - flat[0]
        e1 = e1 / e1.norm()
        e2 = flat[2] - flat[0]
        e2 = e2 - (e2 @ e1) * e1
        if float(e2.norm()) < 1e-12 * float(flat.norm()):
            raise ValueError("the three points are collinear; they do not span a plane")
        e2 = e2 / e2.norm()
        basis = torch.stack([e1, e2])
        uv = (flat - flat[0]) @ basis.T  # (3, 2)
        centre = 0.5 * (uv.min(0).values + uv.max(0).values)
        origin = flat[0] + centre @ basis
        return cls(origin.view(p.shape[1:]), basis.view(2, *p.shape[1:]))

    def coords(self, x: torch.Tensor) -> torch.Tensor:
        """Plane coordinates (B, 2) of points (B, *input_shape) (orthogonal projection)."""
        d = (x.double() - self.origin).flatten(1)
        return d @ self.basis.flatten(1).T

    def embed(self, uv: torch.Tensor) -> torch.Tensor:
        """Input points (B, *input_shape) of plane coordinates (B, 2)."""
        flat = self.origin.flatten() + uv @ self.basis.flatten(1)
        return flat.view(uv.shape[0], *self.origin.shape)


@dataclass(frozen=True)
class Regions2D(FrameRepr):
    """The exact activation-region partition of a convex window of a plane.

    Attributes
    ----------
    n_regions : number of regions (faces) R.
    vertices : (V, 2) float64 vertex coordinates in the plane (shared between faces).
    faces : (R, M) int64 vertex indices of each convex polygon, counter-clockwise, padded with -1.
    n_vertices_per_face : (R,) int64.
    areas : (R,) float64 polygon areas (shoelace formula).
    patterns : (R, units) activation state of each region (``None`` if not asked for): int8
        (ReLU-like units), or int32 when there is a max pool (its units are the pool outputs,
        each state the winner's index in its channel's spatial input, as ``return_indices``).
    plane : the :class:`Plane` (plane coordinates -> input space).
    window : the window polygon's vertices (K, 2).
    sites : nonlinear layer names in call order.
    """

    n_regions: int
    vertices: torch.Tensor = field(repr=False)
    faces: torch.Tensor = field(repr=False)
    n_vertices_per_face: torch.Tensor = field(repr=False)
    areas: torch.Tensor = field(repr=False)
    patterns: torch.Tensor | None = field(repr=False)
    plane: Plane = field(repr=False)
    window: torch.Tensor = field(repr=False)
    sites: tuple[str, ...] = field(repr=False, default=())

    @property
    def polygons(self) -> list[torch.Tensor]:
        """One (k, 2) vertex array per region, counter-clockwise."""
        v = self.vertices.cpu()
        f = self.faces.cpu()
        n = self.n_vertices_per_face.cpu().tolist()
        return [v[f[r, : n[r]]] for r in range(self.n_regions)]

    @property
    def centroids(self) -> torch.Tensor:
        """(R, 2) mean of each polygon's vertices: an interior point of the convex region."""
        mask = self.faces >= 0
        xy = self.vertices[self.faces.clamp(min=0)] * mask[..., None]
        return xy.sum(1) / mask.sum(1, keepdim=True)

    @property
    def edges(self) -> torch.Tensor:
        """(E, 2) unique undirected edges (vertex index pairs) of the subdivision."""
        f = self.faces
        n = self.n_vertices_per_face
        k = torch.arange(f.shape[1], device=f.device)
        valid = k[None, :] < n[:, None]
        nxt = f.gather(1, ((k[None, :] + 1) % n[:, None]).clamp(min=0))
        a, b = f[valid], nxt[valid]
        pairs = torch.stack([torch.minimum(a, b), torch.maximum(a, b)], 1)
        return torch.unique(pairs, dim=0)

    @property
    def window_area(self) -> float:
        return float(_shoelace(self.window[None], torch.tensor([len(self.window)]))[0])

    def euler_characteristic(self) -> int:
        """``V - E + F`` of the subdivision (without the outer face); 1 for a valid partition."""
        used = torch.unique(self.faces[self.faces >= 0]).numel()
        return int(used - self.edges.shape[0] + self.n_regions)

    def to_frame(self) -> pd.DataFrame:
        """One row per region: ``region, area, n_vertices, u, v`` (centroid), ``pattern_hash``."""
        c = self.centroids.cpu().numpy()
        df = pd.DataFrame(
            {
                "region": np.arange(self.n_regions),
                "area": self.areas.cpu().numpy(),
                "n_vertices": self.n_vertices_per_face.cpu().numpy(),
                "u": c[:, 0],
                "v": c[:, 1],
            }
        )
        if self.patterns is not None:
            df["pattern_hash"] = pattern_hash(self.patterns).cpu().numpy()
        return df

    def __repr__(self) -> str:
        return f"Regions2D(n_regions={self.n_regions}, window_area={self.window_area:.4g})"


@dataclass(frozen=True)
class BoundaryDistance(FrameRepr):
    """Exact distance from each point to the boundary of its activation region.

    Attributes
    ----------
    distance : (B,) float64 ``min_j |z_j(x) - c_j| / ||grad_x z_j(x)||``.
    nearest_site : (B,) int64 index (into ``sites``) of the layer whose unit is nearest.
    sites : nonlinear layer names.
    """

    distance: torch.Tensor
    nearest_site: torch.Tensor
    sites: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """One row per point: ``point, distance, nearest_layer``."""
        return pd.DataFrame(
            {
                "point": np.arange(len(self.distance)),
                "distance": self.distance.cpu().numpy(),
                "nearest_layer": [self.sites[i] for i in self.nearest_site.cpu().tolist()],
            }
        )

    def __repr__(self) -> str:
        return (
            f"BoundaryDistance(points={len(self.distance)}, mean={float(self.distance.mean()):.4g})"
        )
