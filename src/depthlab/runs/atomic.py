"""Deprecated: moved to :mod:`depthlab.atomic` (bottom layer). This alias goes in the next release."""

import sys
import warnings

from depthlab import atomic as _moved

warnings.warn(
    "depthlab.runs.atomic moved to depthlab.atomic; import it from there",
    DeprecationWarning,
    stacklevel=2,
)
sys.modules[__name__] = _moved  # the old path is the same module object, so patches reach it
