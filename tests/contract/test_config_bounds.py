"""Every config field of every registered experiment and probe run refuses bad values.

For each field the test generates values that no sane run can take (NaN, +-inf, a negative or zero
size, a huge count, the wrong type, a boolean for a number, an empty or enormous list) and asserts
that ``Config.build`` raises :class:`ConfigError` naming the key, before anything runs. Fields where
a negative or zero value is meaningful say so in ``ALLOWED`` below, with the reason.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal, get_args, get_origin

import pytest

from depthlab.config import ConfigError
from depthlab.experiments import registry

# (experiment, field) -> the generated kinds of value that are valid there, and why.
ALLOWED: dict[tuple[str, str], set[str]] = {
    ("init-trainability", "momentum"): {"zero"},  # plain SGD without momentum is a valid run
    ("init-trainable-depth", "sigma_b2"): {"zero"},  # nets without biases are a valid design
    # 0 Adam steps: the least-squares readout alone (the fine-tuning only ever keeps a better fit)
    ("universal-approximation", "finetune_steps"): {"zero"},
    ("sawtooth-depth-separation", "finetune_steps"): {"zero"},
    # 0 steps skips the trained deep nets (a table, no claim)
    ("sawtooth-depth-separation", "deep_steps"): {"zero"},
    # zero epochs: regions-2d draws its maps at initialization only (no trained maps)
    ("regions-2d", "epochs"): {"zero"},
    # zero bias std: a probe of nets without biases (every first-layer kink through the origin)
    ("probe.regions-1d", "bias_std"): {"zero"},
    # zero bias variance is the classic bias-free net; layer 0 of the PCA pictures is the input
    ("curve-length-depth", "sigma_b"): {"zero"},
    ("curve-length-depth", "pca_layers"): {"zero"},
    ("curve-length-width", "sigma_b"): {"zero"},
    ("phase-diagram", "sigma_b2"): {"zero"},
    ("transitions-vs-length", "sigma_b2"): {"zero"},
    # 0 skips an optional mimic row (the transfer set, augmented inputs, bottleneck, conv student)
    ("mimic", "transfer_inputs"): {"zero"},
    ("mimic", "extra_inputs"): {"zero"},
    ("mimic", "bottleneck"): {"zero"},
    ("mimic", "conv_student_channels"): {"zero"},
    # zero weight decay: plain SGD, a valid training choice
    ("landscape-skip", "weight_decay"): {"zero"},
    # zero warm-up epochs: the large-batch lr from the first step
    ("landscape-1d-interpolation", "warmup_epochs"): {"zero"},
}

# Experiments whose Configs still lack bounds (issue 13, item 5): none left.
PENDING: set[str] = set()

HUGE_INT = 10**12
HUGE_FLOAT = 1e12


def _base(annotation: Any) -> tuple[Any, bool, bool]:
    """(scalar type, is_list, optional) of a field annotation."""
    optional = False
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        optional = len(args) < len(get_args(annotation))
        if len(args) == 1:
            annotation = args[0]
            origin = get_origin(annotation)
        else:
            return annotation, False, optional
    if origin in (list, tuple):
        inner = [a for a in get_args(annotation) if a is not Ellipsis]
        return (inner[0] if inner else Any), True, optional
    return annotation, False, optional


def bad_values(annotation: Any) -> dict[str, Any]:
    scalar, is_list, _ = _base(annotation)
    out: dict[str, Any] = {}
    if scalar is bool:
        vals = {"text": "maybe", "number": 2}
    elif scalar is int:
        vals = {
            "negative": -1,
            "zero": 0,
            "huge": HUGE_INT,
            "text": "abc",
            "bool": True,
            "float": 1.5,
        }
    elif scalar is float:
        vals = {
            "nan": math.nan,
            "inf": math.inf,
            "-inf": -math.inf,
            "negative": -1.0,
            "zero": 0.0,
            "huge": HUGE_FLOAT,
            "text": "abc",
            "bool": True,
        }
    elif get_origin(scalar) is Literal:
        vals = {"unknown": "no-such-choice", "number": 12345}
    elif scalar is str:
        vals = {"number": 12345, "mapping": {"a": 1}}
    else:
        vals = {"mapping": {"a": 1}}
    if is_list:
        out = {f"[{k}]": [v] for k, v in vals.items()}
        out["empty"] = []
        out["long"] = [1] * 100_001
        out["scalar-for-list"] = {"a": 1}
    else:
        out = dict(vals)
        out["list-for-scalar"] = [[1]] if scalar is not str else [1, 2]
    return out


def _cases() -> list[tuple[str, str, str, Any]]:
    cases = []
    for name, exp in registry(include_probes=True).items():
        if name in PENDING:
            continue
        for field, info in exp.Config.model_fields.items():
            for kind, value in bad_values(info.annotation).items():
                if kind.strip("[]") in ALLOWED.get((name, field), set()):
                    continue
                cases.append((name, field, kind, value))
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    ("name", "field", "kind", "value"), CASES, ids=[f"{n}.{f}.{k}" for n, f, k, _ in CASES]
)
def test_bad_value_is_a_config_error(name, field, kind, value):
    exp = registry(include_probes=True)[name]
    with pytest.raises(ConfigError) as err:
        exp.Config.build({field: value})
    msg = str(err.value)
    assert field in msg and "\n" not in msg, msg
    assert "KeyError" not in msg


def test_the_suite_covers_every_field():
    reg = registry(include_probes=True)
    checked = [e for n, e in reg.items() if n not in PENDING]
    fields = sum(len(e.Config.model_fields) for e in checked)
    assert len(CASES) >= 5 * fields
    assert PENDING <= set(reg), sorted(PENDING - set(reg))
