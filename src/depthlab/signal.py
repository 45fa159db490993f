"""Signal propagation over initializations: ``depthlab.signal.moments`` and ``mlp_family``.

The public face of :mod:`depthlab.probes.signal` (its ``__all__``, not a copy of it).
"""

from depthlab.probes import signal as _impl
from depthlab.probes.signal import *  # noqa: F403

__all__ = list(_impl.__all__)
