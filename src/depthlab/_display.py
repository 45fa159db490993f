"""Notebook display shared by every probe result: a short repr stays the class's own; this adds
``_repr_html_`` (the repr, then the first rows of ``to_frame()``) so Jupyter shows a table."""

from __future__ import annotations

import html

MAX_ROWS = 12


class FrameRepr:
    """Mixin for result dataclasses that define ``to_frame()`` and a short ``__repr__``."""

    __slots__ = ()

    def _repr_html_(self) -> str:
        head = f"<p><code>{html.escape(repr(self))}</code></p>"
        try:
            frame = self.to_frame()  # type: ignore[attr-defined]
        except Exception as exc:
            return head + f"<p><em>to_frame() failed: {html.escape(str(exc))}</em></p>"
        more = ""
        if len(frame) > MAX_ROWS:
            more = f"<p><em>first {MAX_ROWS} of {len(frame)} rows; .to_frame() has all</em></p>"
        table = frame.head(MAX_ROWS).to_html(index=False, float_format=lambda v: f"{v:.4g}")
        return f"<div class='depthlab-result'>{head}{table}{more}</div>"
