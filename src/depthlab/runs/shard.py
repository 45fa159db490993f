"""Deprecated: moved to :mod:`depthlab.parallel.shard` (bottom layer). This alias goes in the next release."""

import sys
import warnings

from depthlab.parallel import shard as _moved

warnings.warn(
    "depthlab.runs.shard moved to depthlab.parallel.shard; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved  # the old path is the same module object, so patches reach it
