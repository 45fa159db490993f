"""Signal statistics over many initializations: batched Monte Carlo (Hanin & Rolnick 2018).

:func:`moments` takes a model and draws ``K`` independent initializations of it. For every probe
point it records ``M_j = ||x_j||^2 / n_j`` and, optionally, entries of the input-output Jacobian.
The closed forms these are compared with live in :mod:`depthlab.theory.signal`.

For a fully connected (or residual) net given by its widths, :func:`mlp_family` builds the model,
and ``moments`` runs all ``K`` inits as one batched computation (no Python loop over modules, the
Jacobian carried as tangents with ``torch.func.jvp``); see ``_engines`` for the two engines,
``"weights"`` (any scheme) and ``"gaussian"`` (exact for Gaussian schemes, and fast). Any other
``nn.Module`` (or a zero-argument factory of one) is re-initialized ``K`` times in a loop.

The public face is :mod:`depthlab.signal`; the modules here are private, one idea each, and
import only downward: ``_result`` (:class:`SignalMoments`) and ``_family`` (:func:`mlp_family`)
<- ``_engines`` (batched) and ``_module`` (any module) <- ``_moments`` (the verb).

References
----------
B. Hanin and D. Rolnick, "How to start training: the effect of initialization and architecture",
NeurIPS 2018 (Thms 1, 2). B. Hanin, "Which neural net architectures give rise to exploding and
vanishing gradients?", NeurIPS 2018.
"""

from depthlab.probes.signal import _engines, _family, _moments, _result
from depthlab.probes.signal._engines import *  # noqa: F403
from depthlab.probes.signal._family import *  # noqa: F403
from depthlab.probes.signal._moments import *  # noqa: F403
from depthlab.probes.signal._result import *  # noqa: F403

__all__ = sorted([*_result.__all__, *_family.__all__, *_engines.__all__, *_moments.__all__])
