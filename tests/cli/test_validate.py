"""depthlab.validate: the safe YAML reader, --set pairs, config files and output paths (issue 15)."""

from __future__ import annotations

import os

import pytest

from depthlab.config import ConfigError, load_yaml_config, parse_overrides
from depthlab.validate import (
    MAX_DEPTH,
    InputError,
    check_out_dir,
    check_out_file,
    load_yaml,
    parse_set,
    read_config_file,
)

BILLION_LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("a: &x 1\nb: *x\n", "line 1: an anchor (&x)"),
        (BILLION_LAUGHS, "anchor"),
        ("a: &a [*a]\n", "anchor"),
        ("set: {widths: *nope}\n", "alias (*nope)"),
        ("a: !!python/object/apply:os.system [echo hi]\n", "tag"),
        ("a: !!python/name:os.system\n", "tag"),
        ("a: !custom 1\n", "tag '!custom'"),
        ("a: !!binary aGVsbG8=\n", "tag"),
        ("a: 1\nb: 2\na: 3\n", "line 3: duplicate key 'a' (first on line 1)"),
        ("grid:\n  w: [1]\n  w: [2]\n", "line 3: duplicate key 'w'"),
        ("a:\n\tb: 1\n", "line 2: a tab in the indentation"),
        ("[" * 5000 + "]" * 5000, f"nested deeper than {MAX_DEPTH} levels"),
        ("a: " + "{b: " * 40 + "1" + "}" * 40, "nested deeper"),
        ("a: [1, 2\n", "line 2: not valid YAML"),
        ("{[1, 2]: 3}\n", "a mapping key must be a plain value"),
        ("a: 1\x00\n", "NUL byte"),
    ],
)
def test_unsafe_or_malformed_yaml_is_one_line_naming_the_problem(text, needle):
    with pytest.raises(InputError) as info:
        load_yaml(text, "spec.yaml")
    msg = str(info.value)
    assert needle in msg, msg
    assert msg.startswith("spec.yaml") and "\n" not in msg and len(msg) < 300


def test_plain_yaml_still_loads():
    assert load_yaml("a: [1, 2.5, x]\nb: {c: true, d: null}\ne: 'q\tz'\n") == {
        "a": [1, 2.5, "x"],
        "b": {"c": True, "d": None},
        "e": "q\tz",
    }
    assert load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None  # the cap is exact
    with pytest.raises(InputError):
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))


def test_non_utf8_bytes_name_the_line():
    with pytest.raises(InputError, match=r"c\.yaml line 2: byte 0xff is not UTF-8"):
        load_yaml(b"a: 1\nb: \xff\xfe\n", "c.yaml")


def test_read_config_file(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"widths: [1, 2]\n")
    assert read_config_file(p) == {"widths": [1, 2]}
    p.write_bytes(b"")
    assert read_config_file(p) == {}
    for body, needle in [
        (b"- 1\n- 2\n", "holds a mapping"),
        (b"1: 2\n", "key 1 is not a name"),
        (b"\xff", "not UTF-8"),
        (b"a: !!python/object:os.system 1", "tag"),
    ]:
        p.write_bytes(body)
        with pytest.raises(InputError, match=needle):
            read_config_file(p)
    with pytest.raises(InputError, match="is a directory"):
        read_config_file(tmp_path)
    with pytest.raises(InputError, match="cannot read config file"):
        read_config_file(tmp_path / "missing.yaml")
    # config.py wraps the same checks as ConfigError (what `run --config` catches)
    p.write_bytes(b"a: &x 1\n")
    with pytest.raises(ConfigError, match=r"config error: .*anchor"):
        load_yaml_config(str(p))


def test_parse_set():
    assert parse_set("widths=[1, 2]") == ("widths", [1, 2])
    assert parse_set("name=a: b: c") == ("name", "a: b: c")  # not YAML: kept as text
    assert parse_set("x=") == ("x", "")
    for pair, needle in [
        ("w", "expects key=value"),
        ("=3", "empty key"),
        ("w=*a", "alias"),
        ("w=&a 1", "anchor"),
        ("w=!!python/name:os.system", "tag"),
        ("w=" + "[" * 100 + "]" * 100, "nested deeper"),
        ("a b=1", "not a name"),
    ]:
        with pytest.raises(InputError, match=needle):
            parse_set(pair)
    with pytest.raises(ConfigError, match="gives key 'w' twice"):
        parse_overrides(["w=1", "w=2"])


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda t: "", "--out is empty"),
        (lambda t: "   ", "--out is empty"),
        (lambda t: "/dev/null", "not a directory"),
        (lambda t: _file(t), "exists and is a file"),
        (lambda t: _file(t) / "sub", "is a file, so no directory"),
        (lambda t: t / ("x" * 300), r"300 bytes \(at most"),
        (lambda t: t / "/".join(["y" * 200] * 30), "longer than"),
    ],
)
def test_check_out_dir_refuses_without_writing(tmp_path, make, needle):
    path = make(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(InputError, match=needle) as info:
        check_out_dir(path)
    assert "\n" not in str(info.value)
    assert sorted(os.listdir(tmp_path)) == before


def _file(t):
    p = t / "f.txt"
    p.write_text("x")
    return p


def test_read_only_place_is_refused(tmp_path, monkeypatch):
    # As root a chmod 0555 folder stays writable, so simulate what os.access says on a read-only
    # mount (EROFS) for this folder only.
    real = os.access
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setattr(
        os, "access", lambda p, mode, **kw: False if str(p) == str(ro) else real(p, mode, **kw)
    )
    with pytest.raises(InputError, match="not writable"):
        check_out_dir(ro / "run")
    with pytest.raises(InputError, match="not writable"):
        check_out_file(ro / "index.html")
    assert list(ro.iterdir()) == []


def test_check_out_file(tmp_path):
    assert check_out_file(tmp_path / "a" / "b.html") == tmp_path / "a" / "b.html"
    for bad, needle in [
        ("", "--out is empty"),
        (str(tmp_path), "is a directory"),
        ("/dev/null", "not a regular file"),
        (str(_file(tmp_path) / "x.html"), "is a file, so nothing"),
        (str(tmp_path / ("z" * 300)), "300 bytes"),
    ]:
        with pytest.raises(InputError, match=needle):
            check_out_file(bad)
    assert not (tmp_path / "a").exists()
