"""Loss landscapes: filter-normalized directions, fast 1-D / 2-D loss surfaces, Hessian curvature.

Li, Xu, Taylor, Studer & Goldstein (2018), "Visualizing the loss landscape of neural nets" (NeurIPS).
Around trained weights ``θ*`` we evaluate

    f(α, β) = L(θ* + α δ + β η)

on a grid, where ``δ, η`` are random Gaussian directions rescaled filter by filter,
``δ[i] <- δ[i] · ||θ*[i]|| / ||δ[i]||`` for every output filter ``i`` (a conv output channel or a
linear row), so that the plot's scale matches the weights' scale and scale-invariant nets compare
fairly. With ``ignore="biasbn"`` (the default, as in the paper) 1-D tensors (biases, BN γ/β) get a
zero direction. The two directions are not orthogonalised (random high-dimensional Gaussians are
nearly orthogonal already).

The public face is :mod:`depthlab.landscape`; the modules here are private, one idea each, and
import only downward (``_shared`` <- ``_directions``, ``_evaluator`` <- ``_sharding`` <-
``_surface``; ``_hessian`` and ``_reference`` use ``_shared`` only):

- ``_shared``: :class:`Direction`, :class:`Grid`, data and parameter access (surfaces and Hessian);
- ``_directions``: random (filter-normalized), target and PCA directions;
- ``_evaluator``: :class:`SurfaceOptions` and the fast evaluator of many grid points;
- ``_sharding``: a grid computed in row pieces across processes or Ray workers;
- ``_surface``: :class:`Surface`, the verb :func:`surface`, :func:`nonconvexity`,
  :func:`basin_nonconvexity`;
- ``_hessian``: Hessian-vector products, Lanczos, Hutchinson, curvature maps (public as ``hessian``);
- ``_reference``: the plain loop the tests and the benchmark compare against.

Examples
--------
>>> from depthlab import landscape
>>> d1 = landscape.random_direction(model, seed=0)
>>> d2 = landscape.random_direction(model, seed=1)
>>> s = landscape.surface(model, F.cross_entropy, (x, y), (d1, d2), landscape.Grid.plane(-1, 1, 21))
>>> s.to_frame().head()
"""

from depthlab.probes.landscape import (
    _directions,
    _evaluator,
    _hessian,
    _reference,
    _shared,
    _surface,
)
from depthlab.probes.landscape._directions import *  # noqa: F403
from depthlab.probes.landscape._evaluator import *  # noqa: F403
from depthlab.probes.landscape._reference import *  # noqa: F403
from depthlab.probes.landscape._shared import *  # noqa: F403
from depthlab.probes.landscape._surface import *  # noqa: F403

hessian = _hessian  # the Hessian tools, as a namespace: landscape.hessian.eigenvalues(...)

__all__ = sorted(
    [
        *_shared.__all__,
        *_directions.__all__,
        *_evaluator.__all__,
        *_surface.__all__,
        *_reference.__all__,
        "hessian",
    ]
)
