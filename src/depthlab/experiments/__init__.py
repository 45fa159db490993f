"""Experiments: one module per lecture claim, registered by name.

``depthlab.experiments.registry()`` maps names to experiments in lecture order.
"""

from depthlab.experiments.base import (
    SECTIONS,
    Experiment,
    get_experiment,
    is_probe,
    probes,
    register,
    registry,
)

__all__ = ["SECTIONS", "Experiment", "get_experiment", "is_probe", "probes", "register", "registry"]
