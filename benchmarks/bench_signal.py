"""Monte Carlo over initializations: depthlab.signal.moments vs the naive module loop.

Workload: a depth-50, width-100 ReLU net (zero biases, He normal), input of width 100; per init
record M_j = ||x_j||^2 / n_j at every layer. Ours runs all inits as one batched computation; the
baseline builds an ``nn.Sequential`` per init, initializes it with ``depthlab.init.initialize``
and runs the forward pass layer by layer. The baseline runs ``--naive-inits`` inits and its
per-init time is extrapolated to ``--inits`` (said so in the JSON). Both run in float32 in this
one process, on the CPU by default.

    python benchmarks/bench_signal.py [--inits 10000] [--naive-inits 200] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch
from torch import nn

from depthlab.init import initialize
from depthlab.signal import mlp_family, moments


def naive(n_inits: int, depth: int, width: int, device, gen) -> torch.Tensor:
    x0 = torch.ones(1, width, device=device)
    out = torch.empty(n_inits, depth + 1)
    for k in range(n_inits):
        layers = []
        for _ in range(depth):
            layers += [nn.Linear(width, width, bias=False), nn.ReLU()]
        model = nn.Sequential(*layers).to(device)
        initialize(model, "he_normal", gen)
        x, row = x0, [x0.pow(2).mean()]
        with torch.no_grad():
            for i in range(0, 2 * depth, 2):
                x = model[i + 1](model[i](x))
                row.append(x.pow(2).mean())
        out[k] = torch.stack(row).cpu()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--inits", type=int, default=10_000)
    ap.add_argument("--naive-inits", type=int, default=200)
    ap.add_argument("--weights-inits", type=int, default=500)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--width", type=int, default=100)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    dev = torch.device(args.device)
    family = mlp_family([args.width] * (args.depth + 1))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    gen = torch.Generator(device=dev).manual_seed(0)
    naive(5, args.depth, args.width, dev, gen)  # warm-up
    sync()
    t = time.perf_counter()
    m_naive = naive(args.naive_inits, args.depth, args.width, dev, gen)
    sync()
    t_naive_run = time.perf_counter() - t
    t_naive = t_naive_run / args.naive_inits * args.inits

    kw = dict(jacobian=False, dtype=torch.float32, device=dev)
    moments(family, 100, seed=1, **kw)  # warm-up
    sync()
    t = time.perf_counter()
    r = moments(family, args.inits, seed=1, **kw)
    sync()
    t_ours = time.perf_counter() - t

    t = time.perf_counter()
    rw = moments(family, args.weights_inits, seed=2, engine="weights", **kw)
    sync()
    t_weights = (time.perf_counter() - t) / args.weights_inits * args.inits

    t = time.perf_counter()
    moments(family, args.inits, seed=3, jacobian=True, dtype=torch.float32, device=dev)
    sync()
    t_ours_jac = time.perf_counter() - t

    print(
        json.dumps(
            {
                "benchmark": "signal.moments",
                "workload": f"{args.inits} He-normal inits of a depth-{args.depth}, width-{args.width} ReLU net, M_j at every layer, float32",
                "device": str(dev),
                "cpu": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(),
                "sizes": {"inits": args.inits, "depth": args.depth, "width": args.width},
                "baseline": "naive loop: build nn.Sequential, depthlab.init.initialize, forward",
                "baseline_inits_run": args.naive_inits,
                "baseline_s_measured": round(t_naive_run, 3),
                "baseline_s": round(t_naive, 3),
                "baseline_extrapolated": args.naive_inits != args.inits,
                "ours_engine": r.engine,
                "ours_s": round(t_ours, 3),
                "ratio": round(t_naive / t_ours, 1),
                "ours_weights_engine_s": round(t_weights, 3),
                "ours_weights_engine_extrapolated_from_inits": args.weights_inits,
                "ratio_weights_engine": round(t_naive / t_weights, 2),
                "ours_with_jacobian_s": round(t_ours_jac, 3),
                "check_mean_M_d": {
                    "naive": round(float(m_naive[:, -1].mean()), 3),
                    "ours": round(float(r.mean[-1]), 3),
                    "weights_engine": round(float(rw.mean[-1]), 3),
                    "theory": 1.0,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
