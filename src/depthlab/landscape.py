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
    "surface",
    "target_direction",
]
