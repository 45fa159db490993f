"""The experiment protocol and the registry.

An experiment is a class with ``name``, ``title``, ``section``, ``order``, a ``Config``
(an :class:`~depthlab.config.ExperimentConfig`) and ``run(config, ctx) -> Result``.
Register it with :func:`register`. Modules in ``depthlab.experiments`` are discovered
automatically; extra modules can be named in the ``DEPTHLAB_PLUGINS`` environment variable
(comma-separated import paths).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import ClassVar, Literal, Protocol, runtime_checkable

from depthlab.config import ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Result

# A confirmatory run after an exploratory one draws fresh nets: its stream keys carry a salt.
Draws = Literal["confirmatory", "exploratory"]


def draws_salt(draws: str, token: str = "confirm") -> tuple[str, ...]:
    """The salt for a run's stream keys: ``(token,)`` for ``"confirmatory"`` draws (no draw of
    the exploratory run is reused), ``()`` for ``"exploratory"`` (the earlier run's streams)."""
    return (token,) if draws == "confirmatory" else ()


# Lecture sections, in the order of the lecture; the report follows this order.
SECTIONS: dict[str, str] = {
    "expressivity": "Expressivity and universal approximation (slide 15)",
    "resnets": "ResNets (slide 16)",
    "curvature": "Curve length and curvature through depth (slide 17)",
    "init": "Exploding and vanishing at initialization (slides 18 and 24)",
    "compositional": "Compositional tasks and the benefits of depth (slides 20 and 22)",
    "mimic": "Mimic learning (slide 21)",
    "multiplication": "The multiplication problem (slide 23)",
    "regions": "Linear regions of ReLU networks (slide 25)",
    "landscape": "Loss landscapes (slides 16 and 26)",
    "other": "Other experiments",
}


@runtime_checkable
class Experiment(Protocol):
    name: ClassVar[str]
    title: ClassVar[str]
    section: ClassVar[str]
    order: ClassVar[int]
    Config: ClassVar[type[ExperimentConfig]]

    def run(self, config: ExperimentConfig, ctx: RunContext) -> Result: ...


_REGISTRY: dict[str, Experiment] = {}
_DISCOVERED = False


def register(cls: type) -> type:
    """Class decorator: register an experiment under ``cls.name``."""
    name = getattr(cls, "name", None)
    if not name or not isinstance(name, str):
        raise TypeError(f"{cls.__name__} needs a string attribute 'name'")
    section = getattr(cls, "section", "other")
    if section not in SECTIONS:
        raise ValueError(f"{cls.__name__}.section={section!r}; allowed: {', '.join(SECTIONS)}")
    if name in _REGISTRY and type(_REGISTRY[name]) is not cls:
        raise ValueError(f"experiment name {name!r} is registered twice")
    inst = cls()
    if not isinstance(inst, Experiment):
        raise TypeError(f"{cls.__name__} does not implement the Experiment protocol")
    _REGISTRY[name] = inst
    return cls


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    here = os.path.dirname(os.path.abspath(__file__))  # this package's folder, without importing it
    for mod in pkgutil.iter_modules([here]):
        if not mod.name.startswith("_") and mod.name not in {"base"}:
            importlib.import_module(f"depthlab.experiments.{mod.name}")
    for extra in filter(
        None, (s.strip() for s in os.environ.get("DEPTHLAB_PLUGINS", "").split(","))
    ):
        importlib.import_module(extra)


def is_probe(exp: object) -> bool:
    """A probe run (``kind = "probe"``): a probe wrapped as an experiment so sweeps can run it.

    Probe runs measure and make no claims; ``depthlab reproduce`` and ``depthlab list`` leave them
    out, and ``depthlab run`` / ``depthlab sweep`` (``probe: NAME``) run them by name.
    """
    return getattr(exp, "kind", "experiment") == "probe"


def registry(include_probes: bool = False) -> dict[str, Experiment]:
    """Registered experiments, ordered as the lecture is (section, then ``order``).

    Probe runs (see :func:`is_probe`) are included only with ``include_probes=True``.
    """
    _discover()
    keys = list(SECTIONS)
    items = sorted(
        ((k, v) for k, v in _REGISTRY.items() if include_probes or not is_probe(v)),
        key=lambda kv: (keys.index(kv[1].section), getattr(kv[1], "order", 0), kv[0]),
    )
    return dict(items)


def probes() -> dict[str, Experiment]:
    """The probe runs only, by name (``probe.NAME``)."""
    return {k: v for k, v in registry(include_probes=True).items() if is_probe(v)}


def get_experiment(name: str) -> Experiment:
    reg = registry(include_probes=True)
    if name not in reg:
        raise KeyError(f"unknown experiment {name!r}; available: {', '.join(reg) or '(none)'}")
    return reg[name]
