"""Loss landscapes (Li et al. 2018): directions, surfaces and Hessian curvature.

The public face of :mod:`depthlab.probes.landscape` (its ``__all__``, not a copy of it); the
Hessian tools are ``depthlab.landscape.hessian``.
"""

from depthlab.probes import landscape as _impl
from depthlab.probes.landscape import *  # noqa: F403

__all__ = list(_impl.__all__)
