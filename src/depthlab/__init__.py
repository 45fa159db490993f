"""depthlab: the science of deep versus shallow neural networks.

The public API is re-exports only, for two audiences; the work lives one topic per module.

* **Probe users** (any ``nn.Module``): the probe faces :mod:`depthlab.regions`,
  :mod:`~depthlab.signal`, :mod:`~depthlab.landscape`, :mod:`~depthlab.trajectory`; the model
  doctor :func:`diagnose`; the zoo :mod:`~depthlab.nets`, :mod:`~depthlab.init` schemes,
  :mod:`~depthlab.data`; training with :func:`fit` / :func:`fit_batched` and :mod:`~depthlab.mimic`.
* **Experiment authors**: :class:`ExperimentConfig`, :class:`RunContext`, :func:`register`,
  :class:`Claim`, :class:`Result`, :class:`Region` and :mod:`~depthlab.evidence` (intervals and
  claim builders), :func:`run_experiment` and :func:`load_result`.

Everything else (``depthlab.pl``, ``depthlab.context.resolve_device``,
``depthlab.experiments.get_experiment`` / ``registry``, the runs, parallel and report layers) is
reached through its own module. The few internals this namespace used to re-export still resolve
for one release, with a ``DeprecationWarning`` naming their module.
"""

from depthlab import data, init, landscape, mimic, nets, regions, signal, trajectory
from depthlab._version import __version__
from depthlab.config import ConfigError, ExperimentConfig
from depthlab.context import RunContext
from depthlab.core import Claim, Region, Result
from depthlab.experiments import register
from depthlab.probes.doctor import Diagnosis, diagnose
from depthlab.runs import load_result, run_experiment
from depthlab.train import TrainConfig, TrainResult, fit
from depthlab.train_batched import fit_batched

__all__ = [
    "Claim",
    "ConfigError",
    "Diagnosis",
    "ExperimentConfig",
    "Region",
    "Result",
    "RunContext",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "data",
    "diagnose",
    "evidence",
    "fit",
    "fit_batched",
    "init",
    "landscape",
    "load_result",
    "mimic",
    "nets",
    "regions",
    "register",
    "run_experiment",
    "signal",
    "trajectory",
]

# Names this namespace re-exported before the public API was narrowed: name -> its module.
# They resolve (with a DeprecationWarning) for one release; remove after it.
_MOVED = {
    "get_experiment": "depthlab.experiments",
    "registry": "depthlab.experiments",
    "resolve_device": "depthlab.context",
    "verdict_from": "depthlab.core",
}


# Public modules imported on first use (they pull in heavy dependencies: scipy.stats).
_LAZY = ("evidence",)


def __getattr__(name: str):
    import importlib

    if name in _LAZY:
        return importlib.import_module(f"depthlab.{name}")
    if name in _MOVED:
        import warnings

        module = _MOVED[name]
        warnings.warn(
            f"depthlab.{name} is not public API any more; use {module}.{name}",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module 'depthlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
