"""User input checks: a safe YAML reader, ``--set`` pairs, config files and output paths.

Every check raises :class:`InputError` with ONE line that names the problem and, where there is
one, the line of the file. The CLI turns an :class:`InputError` into that line on stderr and exit
status 2, before anything is written.

The YAML reader (:func:`load_yaml`) is ``yaml.safe_load`` with the dangerous or surprising parts
of YAML refused instead of interpreted:

* anchors and aliases (``&a`` / ``*a``): an alias bomb expands exponentially, and a
  self-referencing alias makes a recursive structure;
* explicit tags (``!!python/object``, ``!!binary``, ``!custom``): a config holds plain data;
* duplicate keys in a mapping (``safe_load`` silently keeps the last one);
* tabs in the indentation (YAML indents with spaces; a tab there is a paste accident);
* bytes that are not UTF-8;
* nesting deeper than :data:`MAX_DEPTH` (deep nesting overflows the recursive composer), and
  documents of more than :data:`MAX_NODES` nodes or :data:`MAX_BYTES` bytes.

The checks run on PyYAML's event stream, which is produced iteratively, so a 5000-deep document
or a billion-laughs alias chain is refused before anything is built.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_BYTES = 1_000_000


class InputError(ValueError):
    """A bad user input (file, flag or value). The message is one line naming what and where."""


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _where(source: str, mark: Any) -> str:
    if mark is None or source.startswith("--"):
        return source
    return f"{source} line {mark.line + 1}"


class _NoDuplicatesLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a mapping with a repeated key."""

    source = "<yaml>"

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise InputError(
                    f"{_where(self.source, key_node.start_mark)}: a mapping key must be a plain "
                    "value, not a list or mapping"
                ) from None
            if key in seen:
                raise InputError(
                    f"{_where(self.source, key_node.start_mark)}: duplicate key {key!r} "
                    f"(first on line {seen[key]}); give each key once"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


_NoDuplicatesLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _NoDuplicatesLoader.construct_mapping
)


def decode_utf8(data: bytes, source: str) -> str:
    """``data`` as text; :class:`InputError` naming the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{source} line {line}: byte 0x{data[exc.start]:02x} is not UTF-8; save the file as "
            "UTF-8"
        ) from None


def check_yaml_events(text: str, source: str = "<yaml>") -> None:
    """Refuse aliases, anchors, tags, tabs and deep or huge documents (see the module docstring)."""
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.lstrip(" \t-?:")
        if "\t" in line[: len(line) - len(stripped)]:
            raise InputError(
                f"{source} line {number}: a tab in the indentation; indent with spaces"
            )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InputError(f"{source} line {line}: a NUL byte; this is not a text file")
    depth = nodes = 0
    for ev in yaml.parse(text, Loader=yaml.SafeLoader):
        where = _where(source, ev.start_mark)
        if isinstance(ev, yaml.AliasEvent):
            raise InputError(f"{where}: an alias (*{ev.anchor}); anchors and aliases are refused")
        if isinstance(ev, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise InputError(f"{where}: more than {MAX_NODES} values; this is not a config")
            if ev.anchor is not None:
                raise InputError(
                    f"{where}: an anchor (&{ev.anchor}); anchors and aliases are refused"
                )
            tag = getattr(ev, "tag", None)
            if tag is not None:
                raise InputError(f"{where}: the tag {tag!r}; tags are refused (plain values only)")
        if isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise InputError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load_yaml(text: str | bytes, source: str = "<yaml>") -> Any:
    """Parse one YAML document safely (see the module docstring); :class:`InputError` if refused.

    >>> load_yaml("a: [1, 2]\\nb: x")
    {'a': [1, 2], 'b': 'x'}
    >>> load_yaml("a: 1\\na: 2", "c.yaml")
    Traceback (most recent call last):
    ...
    depthlab.validate.InputError: c.yaml line 2: duplicate key 'a' (first on line 1); give each key once
    """
    if isinstance(text, bytes):
        if len(text) > MAX_BYTES:
            raise InputError(f"{source}: larger than {MAX_BYTES} bytes; this is not a config")
        text = decode_utf8(text, source)
    if len(text) > MAX_BYTES:
        raise InputError(f"{source}: larger than {MAX_BYTES} bytes; this is not a config")
    try:
        check_yaml_events(text, source)
        loader = _NoDuplicatesLoader(text)
        loader.source = source
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = _one_line(exc.problem or exc.context or "malformed")
        raise InputError(f"{_where(source, mark)}: not valid YAML ({problem})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML ({_one_line(exc)})") from None
    except RecursionError:  # belt and braces: the depth check comes first
        raise InputError(f"{source}: nested too deeply") from None


def read_config_file(path: str | os.PathLike, what: str = "config") -> dict[str, Any]:
    """Read a YAML mapping of ``key: value`` from ``path`` (``--config``); :class:`InputError`."""
    p = Path(path)
    if str(path) == "":
        raise InputError(f"{what} file: an empty path")
    if p.is_dir():
        raise InputError(f"{what} file {p} is a directory, not a YAML file")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} file {p}: {exc.strerror or exc}") from None
    value = load_yaml(data, str(p))
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(
            f"{p}: a {what} file holds a mapping of key: value, got a {type(value).__name__}"
        )
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise InputError(f"{p}: key {bad[0]!r} is not a name; keys are text")
    return value


def parse_set(pair: str) -> tuple[str, Any]:
    """One ``--set key=value`` pair; the value is YAML (refusing what :func:`load_yaml` refuses).

    A value that is not valid YAML is kept as text (``--set name=a:b``); the config's validator
    then says whether text is allowed for that key.

    >>> parse_set("widths=[1, 2]")
    ('widths', [1, 2])
    """
    if not isinstance(pair, str) or "=" not in pair:
        raise InputError(f"--set expects key=value, got {pair!r}")
    key, raw = pair.split("=", 1)
    key = key.strip()
    if not key:
        raise InputError(f"--set has an empty key in {pair!r}")
    if not key.replace("_", "a").replace(".", "a").replace("-", "a").isalnum() or not key.isascii():
        raise InputError(f"--set key {key!r} is not a name (letters, digits, _ . -)")
    if not raw.strip():
        return key, ""
    try:
        return key, load_yaml(raw, f"--set {key}")
    except InputError as exc:
        if "not valid YAML" in str(exc):
            return key, raw
        raise


def _too_long(p: Path) -> str | None:
    try:
        name_max = os.pathconf(p.anchor or ".", "PC_NAME_MAX")
        path_max = os.pathconf(p.anchor or ".", "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):
        name_max, path_max = 255, 4096
    for part in p.parts:
        if len(os.fsencode(part)) > name_max:
            return f"the name {part[:40]}... is {len(os.fsencode(part))} bytes (at most {name_max})"
    if len(os.fsencode(str(p.absolute()))) >= path_max:
        return f"the path is longer than {path_max} bytes"
    return None


def _nearest_existing(p: Path) -> Path:
    q = p.absolute()
    while not q.exists() and q != q.parent:
        q = q.parent
    return q


def _usable_name(path: str | os.PathLike, flag: str, what: str) -> Path:
    """The checks every output path shares: not empty, no NUL byte, not too long for the file system."""
    if str(path).strip() == "":
        raise InputError(f"{flag} is empty; give {what}")
    p = Path(path)
    if "\x00" in str(path):
        raise InputError(f"{flag} {str(path)!r} contains a NUL byte")
    long = _too_long(p)
    if long:
        raise InputError(f"{flag}: {long}")
    return p


def check_out_dir(path: str | os.PathLike | None, flag: str = "--out") -> Path | None:
    """An output directory that can be created (or is an existing directory); nothing is written.

    Refuses ``''``, an existing file or device (``/dev/null``), a name too long for the file
    system, a path under a file, and a place this process cannot write (read-only mounts included).
    """
    if path is None:
        return None
    p = _usable_name(path, flag, "a directory")
    if p.exists() and not p.is_dir():
        kind = "a file" if p.is_file() else "not a directory"
        raise InputError(f"{flag} {p} exists and is {kind}; give a directory")
    base = _nearest_existing(p)
    if not base.is_dir():
        raise InputError(f"{flag} {p}: {base} is a file, so no directory can be made under it")
    if not os.access(base, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {p}: {base} is not writable (read-only or no permission)")
    return p


def check_out_file(path: str | os.PathLike | None, flag: str = "--out") -> Path | None:
    """An output file that can be written (its folder can be created); nothing is written.

    Refuses ``''``, an existing directory, a device or other non-regular file (``/dev/null``),
    too long a name, and a place this process cannot write.
    """
    if path is None:
        return None
    p = _usable_name(path, flag, "a file name")
    if p.is_dir():
        raise InputError(f"{flag} {p} is a directory; give a file name such as {p / 'index.html'}")
    if p.exists() and not p.is_file():
        raise InputError(f"{flag} {p} exists and is not a regular file; give a file name")
    base = _nearest_existing(p.parent if not p.exists() else p)
    if not base.is_dir() and not p.is_file():
        raise InputError(f"{flag} {p}: {base} is a file, so nothing can be written under it")
    target = p if p.exists() else base
    if not os.access(target, os.W_OK):
        raise InputError(f"{flag} {p}: {target} is not writable (read-only or no permission)")
    return p
