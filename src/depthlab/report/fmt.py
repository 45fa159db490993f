"""Number formatting for the report: 4 significant digits, and never a negative zero."""

from __future__ import annotations

import math
import re
from typing import Any

# "-0", "-0.000", "-0e+00", "-0.00%": a minus sign in front of a zero that has no other digit.
_NEG_ZERO = re.compile(r"(?<![\w.])-(?=0(?:\.0*)?(?:[eE][+-]?\d+)?(?!\d|\.\d))")


def no_negative_zero(text: str) -> str:
    """``"-0.000"`` -> ``"0.000"`` (also inside longer strings); other numbers untouched."""
    return _NEG_ZERO.sub("", text)


def fmt_num(v: Any, digits: int = 4) -> str:
    """A number as the report shows it: ``digits`` significant digits, ``""`` for ``None``,
    never ``-0``; strings pass through with any negative zero removed."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if v == 0:
            return "0"
        return no_negative_zero(f"{v:.{digits}g}")
    if isinstance(v, int):
        return str(v)
    if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
        return fmt_num(v.item(), digits)
    return no_negative_zero(str(v))
