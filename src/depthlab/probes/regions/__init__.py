"""Exact linear (activation) regions of piecewise-linear networks in 1-D and 2-D, and the exact
distance to the nearest region boundary.

An *activation region* is a maximal connected set of inputs on which every nonlinearity is in the
same state (Hanin & Rolnick 2019, "Deep ReLU networks have surprisingly few activation patterns";
"Complexity of linear regions in deep networks"). On each region the network is affine.

- :func:`count_1d`: exact breakpoints along one segment or a batch of segments, from the shared
  engine :mod:`depthlab.pl` or the fast Sequential engine (``_one_d_fast``);
  ``count_1d_batch`` is its deprecated alias.
- :func:`count_2d`: the exact partition of a square window (or triangle) of a plane into convex
  polygons. Each nonlinearity's units are applied in turn; for each unit, *all* current polygons
  are split by its zero set at once with tensor operations (no Python loop over regions). The
  unit's input is affine on every current polygon, so its values at the polygon vertices (shared,
  computed by the model's own forward, or interpolated along edges) decide the split exactly.
  A max pool is split output by output along the ties of each window's entries with its winner
  (a tournament over the entries, then a merge of the pieces with the same winner).
- :func:`distance_to_boundary`: ``min_j |z_j(x) - c_j| / ||grad_x z_j(x)||`` over units ``j`` and
  their kinks ``c_j`` (and ``|a_m - a_i| / ||grad (a_m - a_i)||`` over max-pool windows with
  winner ``m``); exact because the region is the convex polytope cut out by the local affine
  extensions of all units.

Everything runs in float64 on a deep copy of the model, on the model's device. Every engine reads
each layer's kinks, states and slopes from :data:`depthlab.pl.LAYERS`, and stops a forward at a
site with :func:`depthlab.pl.site_visits`.

The implementation is private, one module per idea: ``_one_d`` (the verb), ``_one_d_fast`` (the
Sequential engine), ``_two_d``, ``_maxpool``, ``_mesh`` (the shared polygon mesh), ``_distance``
and ``_results`` (the result types). The public import path is :mod:`depthlab.regions`.
"""

from depthlab.probes.regions._distance import distance_to_boundary
from depthlab.probes.regions._one_d import count_1d, count_1d_batch, segments_through
from depthlab.probes.regions._results import (
    BoundaryDistance,
    Plane,
    RegionLimitError,
    Regions1D,
    Regions1DBatch,
    Regions2D,
    pattern_hash,
)
from depthlab.probes.regions._two_d import count_2d

__all__ = [
    "BoundaryDistance",
    "Plane",
    "RegionLimitError",
    "Regions1D",
    "Regions1DBatch",
    "Regions2D",
    "count_1d",
    "count_1d_batch",
    "count_2d",
    "distance_to_boundary",
    "pattern_hash",
    "segments_through",
]
