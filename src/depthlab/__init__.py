"""depthlab: the science of deep versus shallow neural networks.

The public API is re-exports only; the work lives one topic per module.
"""

__version__ = "0.1.0"

from depthlab import data, init, nets
from depthlab.config import ConfigError, ExperimentConfig
from depthlab.context import RunContext, resolve_device
from depthlab.core import Claim, Result, verdict_from
from depthlab.experiments import get_experiment, register, registry
from depthlab.runs import load_result, run_experiment
from depthlab.train import TrainConfig, TrainResult, fit

__all__ = [
    "Claim",
    "ConfigError",
    "ExperimentConfig",
    "Result",
    "RunContext",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "data",
    "fit",
    "get_experiment",
    "init",
    "load_result",
    "nets",
    "register",
    "registry",
    "resolve_device",
    "run_experiment",
    "verdict_from",
]

from depthlab import mimic
from depthlab.train_batched import fit_batched

__all__ += ["fit_batched", "mimic"]
