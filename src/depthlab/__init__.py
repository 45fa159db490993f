"""depthlab: the science of deep versus shallow neural networks.

The public API is re-exports only; the work lives one topic per module.
"""

from depthlab import data, init, landscape, nets, pl, regions, signal
from depthlab._version import __version__
from depthlab.config import ConfigError, ExperimentConfig
from depthlab.context import RunContext, resolve_device
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments import get_experiment, register, registry
from depthlab.probes.doctor import Diagnosis, diagnose
from depthlab.runs import load_result, run_experiment
from depthlab.train import TrainConfig, TrainResult, fit

__all__ = [
    "Claim",
    "ConfigError",
    "Diagnosis",
    "ExperimentConfig",
    "Result",
    "RunContext",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "data",
    "diagnose",
    "fit",
    "get_experiment",
    "init",
    "landscape",
    "load_result",
    "nets",
    "pl",
    "regions",
    "register",
    "registry",
    "resolve_device",
    "run_experiment",
    "signal",
    "verdict_from",
]

from depthlab import mimic
from depthlab.train_batched import fit_batched

__all__ += ["fit_batched", "mimic"]
