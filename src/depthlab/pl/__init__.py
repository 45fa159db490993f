"""Exact piecewise-linear tracing: carry segments of input space through a piecewise-linear model.

One engine serves exact curve length (``depthlab.trajectory``), exact 1-D region counts
(``depthlab.regions.count_1d``) and activation patterns (``depthlab.regions``).

How it works
------------
Every point on a segment ``x(t) = a + t (b - a)``, ``t in [0, 1]``, is kept as ``(segment, t)``. The
model's own forward runs on the batch of points with temporary pre-hooks on its piecewise-linear
nonlinearities. At the first nonlinearity whose input crosses a kink between two consecutive points
of a segment (a sign change for ReLU / LeakyReLU / abs, a crossing of ``min_val`` or ``max_val`` for
Hardtanh / ReLU6, a change of the winning element for MaxPool), the exact crossing parameters are
inserted. Linear interpolation gives them exactly, because everything in front of that nonlinearity
is affine between two consecutive points. The forward restarts and the loop ends when no layer adds
a point. Between consecutive points every layer's output is then affine in ``t``, so curve length in
any layer is the sum of the straight distances between consecutive points.

Supported leaf modules (anything else raises :class:`UnsupportedLayerError` naming it):
Linear, Conv1d, Conv2d, BatchNorm1d/2d (evaluated in eval mode), AvgPool1d/2d,
AdaptiveAvgPool1d/2d, Flatten, Unflatten, Identity, Dropout (eval), ReLU, LeakyReLU, Hardtanh,
ReLU6, :class:`depthlab.nets.activations.Abs`, MaxPool1d/2d. Residual additions and scalings inside
container modules come for free since the model's own forward runs. A nonlinearity applied as a
function inside ``forward`` (``F.relu(x)``) is invisible to hooks; a final check evaluates the
model at every piece's midpoint and raises if the output is not the average of the endpoints, so
such a model fails loudly instead of giving a silent wrong count.

The user's model is never touched: tracing runs on a float64 deep copy in eval mode.

API
---
``trace_segments(model, starts, ends, layers=None) -> PLTrace``
    Many straight segments at once. ``starts, ends``: ``(S, *input_shape)``.
``trace_polyline(model, vertices, layers=None) -> PLTrace``
    A polyline through ``(K, *input_shape)`` vertices (``K - 1`` segments); ``PLTrace.param`` is
    ``segment + t`` in ``[0, K - 1]``.
``PLTrace``
    ``segment`` (P,) long, ``t`` (P,) float64, ``outputs[name]`` (P, *layer_shape) float64 (the
    model output is ``"output"``; any ``named_modules()`` name can be asked for, ``"input"`` gives the
    points themselves), ``lengths(name)`` (S,) exact curve length per segment, ``length(name)`` total,
    ``n_pieces`` (S,) pieces per segment, ``breakpoints(s)`` interior kink parameters of segment s,
    ``patterns`` (optional, one row per piece).
``activation_patterns(model, x) -> Patterns``
    The activation state of every nonlinearity at points ``x`` (B, *input_shape).
``LAYERS`` / ``layer_rule(module)``
    The layer-semantics table (:class:`LayerRule` per supported layer: kind, kinks, states,
    slopes, in-place forward, crossings, input rank). Every exact engine reads it: this tracer,
    the fast 1-D engine and the 2-D and distance engines of :mod:`depthlab.regions`.
``site_visits(prep, visit)``
    Run the prepared model with a visit before every site (nonlinearity) call, which may stop the
    forward there: the one way the engines stop a forward at a site.
"""

from depthlab.pl._layers import (
    AFFINE_LAYERS,
    EPS,
    LAYERS,
    POOL_LAYERS,
    SITE_LAYERS,
    SUPPORTED_LAYERS,
    SUPPORTED_NAMES,
    THRESHOLD_LAYERS,
    LayerRule,
    UnsupportedLayerError,
    find_rule,
    input_rank,
    layer_rule,
    pool_indices,
    segment_max,
    slopes,
    states,
    thresholds,
)
from depthlab.pl._prepare import (
    Prepared,
    Stopped,
    flat_sequential,
    folded,
    prepare,
    site_visits,
)
from depthlab.pl._trace import (
    NotPiecewiseLinearError,
    Patterns,
    PLTrace,
    activation_patterns,
    trace_polyline,
    trace_segments,
)

__all__ = [
    "AFFINE_LAYERS",
    "EPS",
    "LAYERS",
    "POOL_LAYERS",
    "SITE_LAYERS",
    "SUPPORTED_LAYERS",
    "SUPPORTED_NAMES",
    "THRESHOLD_LAYERS",
    "LayerRule",
    "NotPiecewiseLinearError",
    "PLTrace",
    "Patterns",
    "Prepared",
    "Stopped",
    "UnsupportedLayerError",
    "activation_patterns",
    "find_rule",
    "flat_sequential",
    "folded",
    "input_rank",
    "layer_rule",
    "pool_indices",
    "prepare",
    "segment_max",
    "site_visits",
    "slopes",
    "states",
    "thresholds",
    "trace_polyline",
    "trace_segments",
]
