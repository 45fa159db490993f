"""Exact linear regions: ``depthlab.regions.count_1d``, ``count_2d``, ``distance_to_boundary``.

Re-exports from :mod:`depthlab.probes.regions`; the bounds live in :mod:`depthlab.theory.regions`.
"""

from depthlab.probes.regions import (
    BoundaryDistance,
    Plane,
    RegionLimitError,
    Regions1D,
    Regions1DBatch,
    Regions2D,
    count_1d,
    count_1d_batch,
    count_2d,
    distance_to_boundary,
    pattern_hash,
    segments_through,
)

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
