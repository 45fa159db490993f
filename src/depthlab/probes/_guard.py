"""The probe guard, as the probes import it: see :mod:`depthlab._guard`.

The implementation sits in the bottom layer (it needs only torch and :mod:`depthlab.numerics`)
because the engines below the probes use it too: :func:`depthlab.train.evaluate`,
:meth:`depthlab.mimic.Teacher.logits` and :func:`depthlab.pl.prepare`.
"""

from depthlab._guard import *  # noqa: F403
from depthlab._guard import __all__  # noqa: F401
