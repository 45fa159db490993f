"""Exact linear regions: ``depthlab.regions.count_1d``, ``count_2d``, ``distance_to_boundary``.

The public face of :mod:`depthlab.probes.regions` (whose modules are private); ``__all__`` is the
package's own. The bounds live in :mod:`depthlab.theory.regions`.
"""

from depthlab.probes import regions as _impl
from depthlab.probes.regions import *  # noqa: F403  (the names of _impl.__all__)

__all__ = list(_impl.__all__)
