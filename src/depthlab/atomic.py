"""Atomic file writes: temp file in the same directory, fsync, then rename.

Bottom layer: any module may import it (it imports only the standard library)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once at import: os.umask is process-wide, so never toggle it later

# Test hook (tests/cli/test_kill_every_write.py): DEPTHLAB_KILL_AT_WRITE=N SIGKILLs this process at
# its N-th atomic write, after the temp file is written and before the rename ("N" or "N:before")
# or just after the rename ("N:after"). DEPTHLAB_WRITE_LOG=FILE appends each written path to FILE.
_WRITES = [0]
_HOOKED = bool(os.environ.get("DEPTHLAB_KILL_AT_WRITE") or os.environ.get("DEPTHLAB_WRITE_LOG"))


def _test_hook(phase: str, path: Path) -> None:
    spec = os.environ.get("DEPTHLAB_KILL_AT_WRITE")
    log = os.environ.get("DEPTHLAB_WRITE_LOG")
    if phase == "before":
        _WRITES[0] += 1
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(f"{path}\n")
    if spec:
        n, _, when = spec.partition(":")
        if _WRITES[0] == int(n) and (when or "before") == phase:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        if _HOOKED:
            _test_hook("before", path)
        os.replace(tmp, path)
        if _HOOKED:
            _test_hook("after", path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, allow_nan=False) + "\n")


def atomic_write_parquet(path: str | os.PathLike, frame) -> None:
    import io

    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
