"""Validated experiment configs, ``--set key=value`` overrides, and one-line config errors."""

from __future__ import annotations

from typing import Any, ClassVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from depthlab.validate import InputError, parse_set, read_config_file

# The sizes a run can take: ``tiny`` (seconds, contract tests), ``quick`` (a smoke test of about a
# minute for everything), ``default`` (``make demo``: every empirical claim decided on a laptop CPU)
# and ``paper`` (the papers' settings, for one GPU).
SCALES: tuple[str, ...] = ("tiny", "quick", "default", "paper")


class ConfigError(InputError):
    """A bad config key or value. The message is one line naming the key and what is allowed."""


class ExperimentConfig(BaseModel):
    """Base for every experiment's settings.

    Unknown keys are errors. ``quick()`` returns the ``--quick`` variant (small enough for CI);
    ``tiny()`` returns a smaller one still (seconds; what the contract tests run).
    Subclasses set ``_quick_overrides`` to the fields that change in quick mode, and
    ``_tiny_overrides`` to the fields that change again on top of those in tiny mode (only where
    quick mode takes more than a few seconds).
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False
    )
    _quick_overrides: ClassVar[dict[str, Any]] = {}
    _tiny_overrides: ClassVar[dict[str, Any]] = {}
    _paper_overrides: ClassVar[dict[str, Any]] = {}

    @model_validator(mode="before")
    @classmethod
    def _no_bools_as_numbers(cls, data: Any) -> Any:
        """``true`` is not a count: refuse booleans wherever a field does not take a bool."""
        if not isinstance(data, dict):
            return data
        for key, value in data.items():
            field = cls.model_fields.get(key)
            if field is None or _takes_bool(field.annotation):
                continue
            items = value if isinstance(value, (list, tuple)) else [value]
            if any(isinstance(v, bool) for v in items):
                raise ValueError(
                    f"key {key!r} takes numbers or text, not true/false (got {value!r})"
                )
        return data

    @classmethod
    def quick(cls) -> ExperimentConfig:
        return cls(**cls._quick_overrides)

    @classmethod
    def tiny(cls) -> ExperimentConfig:
        """The quick variant with ``_tiny_overrides`` on top: seconds per run, for tests."""
        return cls.build(tiny=True)

    @classmethod
    def tiny_overrides(cls) -> dict[str, Any]:
        """The fields tiny mode sets, quick's included: ``run_experiment(name,
        Config.tiny_overrides(), quick=True)`` runs the tiny variant through the runner."""
        return {**cls._quick_overrides, **cls._tiny_overrides}

    @classmethod
    def paper(cls) -> ExperimentConfig:
        """The papers' settings (``--scale paper``), meant for one GPU."""
        return cls.build(scale="paper")

    @classmethod
    def build(
        cls,
        overrides: dict[str, Any] | None = None,
        quick: bool = False,
        tiny: bool = False,
        scale: str | None = None,
    ) -> ExperimentConfig:
        """The defaults of ``scale`` (``tiny``, ``quick``, ``default`` or ``paper``; ``quick=True``
        and ``tiny=True`` are the older spellings), then ``overrides``; raise
        :class:`ConfigError` if bad. Tiny is quick plus ``_tiny_overrides``."""
        scale = resolve_scale(scale, quick=quick, tiny=tiny)
        values: dict[str, Any] = {}
        if scale in ("quick", "tiny"):
            values.update(cls._quick_overrides)
        if scale == "tiny":
            values.update(cls._tiny_overrides)
        if scale == "paper":
            values.update(cls._paper_overrides)
        values.update(overrides or {})
        try:
            return cls(**values)
        except ValidationError as err:
            raise ConfigError(format_validation_error(err, cls)) from None


def resolve_scale(scale: str | None = None, *, quick: bool = False, tiny: bool = False) -> str:
    """One scale name from ``scale`` or the older ``quick``/``tiny`` flags (which must agree)."""
    implied = "tiny" if tiny else "quick" if quick else None
    if scale is None:
        return implied or "default"
    if scale not in SCALES:
        raise ConfigError(f"config error: scale must be one of {', '.join(SCALES)}, got {scale!r}")
    if implied and implied != scale:
        raise ConfigError(f"config error: scale {scale!r} contradicts the {implied} flag")
    return scale


def scale_configs(cls: type[ExperimentConfig]) -> dict[str, dict[str, Any]]:
    """Each scale's resolved config of ``cls`` as JSON-ready dicts, in :data:`SCALES` order."""
    return {s: cls.build(scale=s).model_dump(mode="json") for s in SCALES}


def scale_differences(cls: type[ExperimentConfig]) -> dict[str, dict[str, Any]]:
    """The fields whose value differs between scales: ``{field: {scale: value}}``, field order."""
    per = scale_configs(cls)
    fields = per["default"]
    return {
        k: {s: per[s][k] for s in SCALES}
        for k in fields
        if any(per[s][k] != fields[k] for s in SCALES)
    }


def _takes_bool(annotation: Any) -> bool:
    if annotation is bool:
        return True
    return any(_takes_bool(a) for a in get_args(annotation)) if get_origin(annotation) else False


def check_data_dir(data_dir: str | None, dataset: str | None) -> str | None:
    """``data_dir`` names where CIFAR-10 lies, so it is an error with any other dataset."""
    if data_dir is not None and dataset != "cifar10":
        raise ValueError(f"data_dir is only read with dataset=cifar10, not {dataset!r}")
    return data_dir


def format_validation_error(err: ValidationError, model: type[BaseModel]) -> str:
    """Render the first pydantic error as one line: the key, the problem, what is allowed."""
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or "<config>"
    allowed = ", ".join(sorted(model.model_fields))
    if e["type"] == "extra_forbidden":
        return f"config error: unknown key {key!r}; allowed keys: {allowed}"
    msg = " ".join(str(e["msg"]).removeprefix("Value error, ").split())
    if not e["loc"]:  # a model-level check: its message names the key itself
        return f"config error: {msg}"
    got = e.get("input")
    got_s = f" (got {_short(got)})" if not isinstance(got, dict) else ""
    return f"config error: key {key!r}: {msg}{got_s}"


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so a huge value never floods the error line."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """Parse ``["a=1", "b=[1,2]", "c.d=x"]`` into a dict; values are YAML, read by
    :func:`depthlab.validate.parse_set` (no aliases, tags or deep nesting). A key given twice is
    an error, not a silent last-wins."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        try:
            key, value = parse_set(pair)
        except InputError as exc:
            raise ConfigError(f"config error: {exc}") from None
        if key in out:
            raise ConfigError(f"config error: --set gives key {key!r} twice; give it once")
        out[key] = value
    return out


def load_yaml_config(path: str) -> dict[str, Any]:
    """A ``--config`` file: a YAML mapping read by :func:`depthlab.validate.read_config_file`."""
    try:
        return read_config_file(path)
    except InputError as exc:
        raise ConfigError(f"config error: {exc}") from None
