"""Exact region counting: depthlab against regioncam, same nets and planes, one process.

Usage::

    python benchmarks/bench_regions.py            # CPU sizes that finish in about a minute
    python benchmarks/bench_regions.py --full     # adds 784-256x4 (regioncam: ~70 s on one core)
    python benchmarks/bench_regions.py --device cuda --full

Prints one JSON object: for each case the sizes, the region counts of both (they must agree),
baseline (regioncam) time, our time, ``ratio = ours / baseline`` (<= 1 means we are faster) and the
device. Timings are the best of ``--repeat`` runs. regioncam works in float32 on one CPU core;
depthlab in float64 on the chosen device.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from depthlab import regions
from depthlab.init import initialize
from depthlab.nets import mlp


def _net(widths, seed, device):
    g = torch.Generator().manual_seed(seed)
    return initialize(mlp(widths), "he_normal", g, sigma_b2=0.01).to(device)


def _rc_add(rc, model) -> None:
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    for i, lin in enumerate(lins):
        rc.linear(
            lin.weight.detach().cpu().numpy().T.astype(np.float32).copy(),
            lin.bias.detach().cpu().numpy().astype(np.float32),
        )
        if i < len(lins) - 1:
            rc.relu()


def _best(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_2d(widths, device, repeat, plane: bool, baseline: bool = True) -> dict:
    import regioncam

    model = _net(widths, 0, device)
    pts = torch.randn(3, widths[0], generator=torch.Generator().manual_seed(1)) if plane else None

    def theirs():
        rc = (
            regioncam.Regioncam.through_points(pts.numpy().astype(np.float32))
            if plane
            else regioncam.Regioncam(1.0)
        )
        _rc_add(rc, model)
        return rc.num_faces

    def ours():
        p = None if pts is None else pts.to(device)
        return regions.count_2d(model, p, patterns=False, max_regions=None).n_regions

    ours()  # warm-up (allocator, kernels)
    t_base, n_base = _best(theirs, repeat) if baseline else (float("nan"), None)
    t_ours, n_ours = _best(ours, repeat)
    return {
        "case": "2d " + "-".join(map(str, widths)) + (" plane" if plane else " [-1,1]^2"),
        "regions_regioncam": n_base,
        "regions_depthlab": n_ours,
        "baseline_s": round(t_base, 4),
        "ours_s": round(t_ours, 4),
        "ratio": round(t_ours / t_base, 3) if baseline else None,
    }


def bench_1d(widths, n_segments, n_baseline, device, repeat) -> dict:
    import regioncam

    model = _net(widths, 0, device)
    g = torch.Generator().manual_seed(2)
    a = torch.randn(n_segments, widths[0], generator=g)
    b = torch.randn(n_segments, widths[0], generator=g)

    def theirs():  # regioncam's 1-D object handles one line: loop over a subset of segments
        total = 0
        for i in range(n_baseline):
            rc = regioncam.Regioncam1D.through_points(
                torch.stack([a[i], b[i]]).numpy().astype(np.float32), size=0.5
            )
            _rc_add(rc, model)
            total += rc.num_edges
        return total

    def ours():
        return int(regions.count_1d_batch(model, a.to(device), b.to(device)).n_regions.sum())

    t_base, _ = _best(theirs, repeat)
    t_ours, total = _best(ours, repeat)
    base_rate = n_baseline / t_base
    our_rate = n_segments / t_ours
    return {
        "case": f"1d batch {'-'.join(map(str, widths))}",
        "segments_depthlab": n_segments,
        "segments_regioncam": n_baseline,
        "pieces_depthlab_total": total,
        "baseline_segments_per_s": round(base_rate, 1),
        "ours_segments_per_s": round(our_rate, 1),
        "baseline_s_per_segment": t_base / n_baseline,
        "ours_s_per_segment": t_ours / n_segments,
        "ratio": round(base_rate / our_rate, 4),
        "throughput_gain": round(our_rate / base_rate, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="include 784-256x4 (slow for regioncam)")
    ap.add_argument("--segments", type=int, default=10_000)
    ap.add_argument(
        "--no-baseline-full",
        action="store_true",
        help="time only depthlab on 784-256x4 (for the absolute GPU target; regioncam takes ~70 s)",
    )
    args = ap.parse_args()
    dev = torch.device(args.device)
    cases = [
        bench_2d([2, 60, 60, 60, 60, 1], dev, args.repeat, plane=False),
        bench_2d([784, 64, 64, 64, 1], dev, args.repeat, plane=True),
    ]
    if args.full:
        cases.append(
            bench_2d(
                [784, 256, 256, 256, 256, 1],
                dev,
                args.repeat,
                plane=True,
                baseline=not args.no_baseline_full,
            )
        )
    cases.append(bench_1d([784, 64, 64, 64, 1], args.segments, 500, dev, args.repeat))
    print(
        json.dumps(
            {
                "benchmark": "regions",
                "device": str(dev)
                + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
                "cpu": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(),
                "cases": cases,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
