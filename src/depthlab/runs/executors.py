"""Deprecated: moved to :mod:`depthlab.parallel.executors` (bottom layer). This alias goes in the next release."""

import sys
import warnings

from depthlab.parallel import executors as _moved

warnings.warn(
    "depthlab.runs.executors moved to depthlab.parallel.executors; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved  # the old path is the same module object, so patches reach it
