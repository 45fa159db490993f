"""The exact distance from a point to the boundary of its activation region:
:func:`distance_to_boundary`."""

from __future__ import annotations

import math

import torch
from torch import nn

from depthlab import pl
from depthlab.probes._guard import guard_probe
from depthlab.probes.regions._maxpool import _pool_windows
from depthlab.probes.regions._results import BoundaryDistance


@guard_probe(name="regions.distance_to_boundary")
def distance_to_boundary(
    model: nn.Module, x: torch.Tensor, *, chunk_elements: int = 2**22
) -> BoundaryDistance:
    """Exact distance from each point of ``x`` (B, *input_shape) to its region's boundary.

    The activation region of ``x`` is the convex polytope cut out by the local affine
    extensions (at ``x``) of all "units", each of which must keep its sign:

    - an elementwise unit (ReLU, LeakyReLU, abs, Hardtanh / ReLU6) with input ``z_j`` and kink
      ``c`` gives ``g = z_j - c`` (Hardtanh has two kinks, so two such ``g``);
    - a max-pool output whose window entries are ``a_1 .. a_K`` with winner ``m = argmax a_i``
      at ``x`` gives ``g = a_m - a_i`` for every other entry ``i`` (the region ends where another
      entry ties with the winner; padding entries never win).

    The distance from an interior point to the boundary of a convex polytope is the distance to
    the nearest of its hyperplanes (Hanin & Rolnick 2019, Thm 3 studies its mean, ``>= C / N``):

        d(x) = min_g |g(x)| / ||grad_x g(x)||.

    Units with zero gradient (their input is constant near ``x``) are ignored. The gradients are
    exact: the model is run on ``x`` and on ``x + e_i`` for every input direction ``e_i`` with
    each nonlinearity frozen at its linearization around ``x`` (``f(z_x) + f'(z_x) (z - z_x)``;
    a max pool passes on the entry that wins at ``x``), so differences of the units' inputs are
    the Jacobian rows. Everything stays on the model's device.
    """
    prep = pl.prepare(model, x[0])
    xs = x.detach().to(device=prep.device, dtype=torch.float64)
    n_in = math.prod(xs.shape[1:])
    eye = torch.eye(n_in, dtype=torch.float64, device=xs.device).view(n_in, *xs.shape[1:])
    per_point = (n_in + 1) * max(n_in, 1)
    step = max(1, chunk_elements // per_point)
    windows: dict[tuple[int, tuple[int, ...]], tuple[torch.Tensor, ...]] = {}
    dists, which = [], []
    for lo in range(0, xs.shape[0], step):
        xb = xs[lo : lo + step]  # (b, *in)
        b = xb.shape[0]
        batch = torch.cat([xb, (xb[:, None] + eye[None]).reshape(b * n_in, *xs.shape[1:])])
        # per site: inputs (b, units), Jacobian (b, n_in, units), per-point input shape
        zs = _linearized_site_inputs(prep, batch, b, n_in, windows)
        best = torch.full((b,), math.inf, dtype=torch.float64, device=xb.device)
        arg = torch.zeros(b, dtype=torch.int64, device=xb.device)
        for si, ((_, mod), (z, jac, shape)) in enumerate(zip(prep.sites, zs, strict=True)):
            rule = pl.layer_rule(mod)
            if rule.kind == "pool":
                dmin = _pool_distance(z, jac, windows[(id(mod), shape)][0])
            else:
                g = jac.norm(dim=1)  # (b, units) gradient norms
                dmin = torch.full_like(best, math.inf)
                for c in rule.kinks(mod):  # type: ignore[misc]
                    d = torch.where(g > 0, (z - c).abs() / g, torch.full_like(g, math.inf))
                    dmin = torch.minimum(dmin, d.min(1).values)
            better = dmin < best
            best = torch.where(better, dmin, best)
            arg = torch.where(better, torch.full_like(arg, si), arg)
        dists.append(best)
        which.append(arg)
    return BoundaryDistance(torch.cat(dists), torch.cat(which), tuple(n for n, _ in prep.sites))


def _pool_distance(z: torch.Tensor, jac: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """(b,) ``min |a_m - a_i| / ||grad (a_m - a_i)||`` over pool outputs and their non-winning
    window entries ``i`` (``m``: the winner), from the pool inputs ``z`` (b, U) and their
    Jacobian (b, n_in, U)."""
    b, n_in, _ = jac.shape
    n_out = win.shape[0]
    vals = z[:, win.clamp(min=0)].masked_fill(win < 0, -math.inf)  # (b, O, K)
    mu = win[None].expand(b, -1, -1).gather(2, vals.argmax(-1, keepdim=True)).squeeze(2)
    zm = z.gather(1, mu)  # (b, O) the winners' values
    jm = jac.gather(2, mu[:, None].expand(b, n_in, n_out))  # (b, n_in, O)
    out = torch.full((b,), math.inf, dtype=z.dtype, device=z.device)
    for k in range(win.shape[1]):
        uk = win[:, k]
        u = uk.clamp(min=0)
        gn = (jm - jac[:, :, u]).norm(dim=1)  # (b, O)
        ok = (uk >= 0)[None] & (mu != uk[None]) & (gn > 0)
        d = torch.where(ok, (zm - z[:, u]).abs() / gn, math.inf)
        out = torch.minimum(out, d.min(1).values)
    return out


def _linearized_site_inputs(
    prep: pl.Prepared,
    batch: torch.Tensor,
    b: int,
    n_in: int,
    windows: dict[tuple[int, tuple[int, ...]], tuple[torch.Tensor, ...]],
) -> list[tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]]:
    """Run ``batch = [x (b rows); x + e_i (b * n_in rows)]`` with every nonlinearity linearized
    around its base row; return each site's input at ``x``, its Jacobian (b, n_in, units) and
    its per-point input shape. Max-pool windows are cached in ``windows``."""
    out: list[tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]] = []

    def hook(mod, inputs, output):
        z = inputs[0]
        zb = z[:b]  # (b, ...)
        zd = z[b:].reshape(b, n_in, *z.shape[1:])
        fb = output[:b]
        shape = tuple(z.shape[1:])
        out.append((zb.flatten(1), (zd - zb[:, None]).flatten(2), shape))
        if pl.layer_rule(mod).kind == "pool":  # pass on the entry that wins at x
            key = (id(mod), shape)
            if key not in windows:
                windows[key] = _pool_windows(mod, shape, z.device)
            win = windows[key][0]
            vals = zb.flatten(1)[:, win.clamp(min=0)].masked_fill(win < 0, -math.inf)
            mu = win[None].expand(b, -1, -1).gather(2, vals.argmax(-1, keepdim=True)).squeeze(2)
            lin = zd.flatten(2).gather(2, mu[:, None].expand(b, n_in, mu.shape[1]))
            return torch.cat([fb, lin.reshape(b * n_in, *fb.shape[1:])])
        slope = pl.slopes(mod, zb)  # the slope of the piece each unit is on at x
        lin = fb[:, None] + slope[:, None] * (zd - zb[:, None])
        return torch.cat([fb, lin.reshape(b * n_in, *z.shape[1:])])

    mods = {id(m): m for _, m in prep.sites}.values()
    handles = [m.register_forward_hook(hook) for m in mods]
    try:
        with torch.no_grad():
            prep.net(batch)
    finally:
        for h in handles:
            h.remove()
    return out
