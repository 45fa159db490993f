"""Loss landscapes (Li et al. 2018): directions, surfaces and Hessian curvature.

Re-exports :mod:`depthlab.probes.landscape`; the Hessian tools are ``depthlab.landscape.hessian``.
"""

from depthlab.probes import hessian
from depthlab.probes.landscape import (
    Direction,
    Grid,
    PCADirections,
    Surface,
    SurfaceOptions,
    nonconvexity,
    normalize_direction,
    pca_directions,
    random_direction,
    surface,
    target_direction,
)
from depthlab.probes.landscape_shard import sharded_surface, surface_rows

__all__ = [
    "Direction",
    "Grid",
    "PCADirections",
    "Surface",
    "SurfaceOptions",
    "hessian",
    "nonconvexity",
    "normalize_direction",
    "pca_directions",
    "random_direction",
    "sharded_surface",
    "surface",
    "surface_rows",
    "target_direction",
]
