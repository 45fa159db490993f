"""Benchmark: loss-surface points per second, fast path vs the reference loop, same process.

Baseline: :func:`depthlab.landscape.reference_surface` in fp32 (weights copied
into the model at each grid point, a DataLoader of batches of 128, one point at a time), which is
how Li et al.'s reference code evaluates a surface. Ours: :func:`depthlab.landscape.surface`.

CPU cases (always): an MLP on MNIST-1D and a small 1-D ResNet on MNIST-1D.
GPU case (only where CUDA exists): ResNet-56 over 10k CIFAR-shaped synthetic images, fp32 and
bf16 (optionally compiled), with achieved TFLOP/s against the card's peak. Prints one JSON object.

    PYTHONPATH=src python benchmarks/bench_landscape.py [--quick] [--out bench.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch
import torch.nn.functional as F

from depthlab import landscape
from depthlab.landscape import reference_surface

CE = F.cross_entropy

# Dense peak TFLOP/s by card (fp32 without tensor cores, bf16 tensor cores), from vendor sheets.
PEAKS = {
    "H200": {"fp32": 66.9, "bf16": 989.4},
    "H100": {"fp32": 66.9, "bf16": 989.4},  # SXM; PCIe is lower (51 / 756)
    "A100": {"fp32": 19.5, "bf16": 312.0},
    "L4": {"fp32": 30.3, "bf16": 121.0},
}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _grid_for(n: int) -> landscape.Grid:
    side = max(1, round(n**0.5))
    return landscape.Grid.plane(-1, 1, side)


def _time_reference(model, x, y, dirs, grid) -> tuple[float, torch.Tensor]:
    device = next(model.parameters()).device
    reference_surface(model, CE, x[:128], y[:128], dirs, landscape.Grid((0.0,), (0.0,)))  # warm up
    _sync(device)
    t0 = time.perf_counter()
    loss, _ = reference_surface(model, CE, x, y, dirs, grid)
    _sync(device)
    return time.perf_counter() - t0, loss


def _time_ours(model, x, y, dirs, grid, opts) -> tuple[float, landscape.Surface]:
    device = next(model.parameters()).device
    landscape.surface(model, CE, (x, y), dirs, landscape.Grid((0.0,), (0.0,)), options=opts)  # warm
    _sync(device)
    t0 = time.perf_counter()
    s = landscape.surface(model, CE, (x, y), dirs, grid, options=opts)
    _sync(device)
    return time.perf_counter() - t0, s


def _case(name, model, x, y, n_base, n_ours, variants) -> dict:
    dirs = (landscape.random_direction(model, seed=0), landscape.random_direction(model, seed=1))
    g_base, g_ours = _grid_for(n_base), _grid_for(n_ours)
    t_base, ref_loss = _time_reference(model, x, y, dirs, g_base)
    base_pps = g_base.points().shape[0] / t_base
    out = {
        "case": name,
        "device": str(next(model.parameters()).device),
        "params": sum(p.numel() for p in model.parameters()),
        "n_examples": len(x),
        "baseline": {
            "impl": "reference loop, fp32, DataLoader batch 128, one point at a time",
            "points": g_base.points().shape[0],
            "seconds": t_base,
            "points_per_s": base_pps,
        },
        "ours": [],
    }
    for label, opts in variants:
        t, s = _time_ours(model, x, y, dirs, g_ours, opts)
        pps = g_ours.points().shape[0] / t
        # agreement with the baseline on the baseline's grid (same points)
        check = landscape.surface(model, CE, (x, y), dirs, g_base, options=opts)
        rel = float((check.loss - ref_loss).abs().max() / ref_loss.abs().max())
        out["ours"].append(
            {
                "variant": label,
                "points": g_ours.points().shape[0],
                "seconds": t,
                "points_per_s": pps,
                "ratio_vs_baseline": pps / base_pps,
                "max_rel_diff_vs_baseline": rel,
                "options": s.options,
            }
        )
    return out


def cpu_cases(quick: bool) -> list[dict]:
    from depthlab.data import mnist1d
    from depthlab.nets import mlp, resnet1d

    data = mnist1d()
    x, y = data.x_train, data.y_train  # (4000, 40), (4000,)
    if quick:
        x, y = x[:1000], y[:1000]
    torch.manual_seed(0)
    cases = []
    net = mlp([40, 256, 256, 10]).eval()
    cases.append(
        _case(
            "mlp-40-256-256-10 / MNIST-1D",
            net,
            x,
            y,
            4 if quick else 9,
            64 if quick else 256,
            [
                ("fp32, auto (one point per call on CPU)", landscape.SurfaceOptions()),
                ("fp32, vmap 16 points per call", landscape.SurfaceOptions(points_per_call=16)),
            ],
        )
    )
    torch.manual_seed(0)
    res = resnet1d(blocks=3, channels=16).eval()
    cases.append(
        _case(
            "resnet1d-3blocks-16ch / MNIST-1D",
            res,
            x,
            y,
            4,
            9 if quick else 25,
            [
                ("fp32", landscape.SurfaceOptions()),
                ("bf16 autocast", landscape.SurfaceOptions(autocast_bf16=True)),
            ],
        )
    )
    return cases


def gpu_case(
    quick: bool, compile_: bool, device: str = "cuda", n: int = 10_000, depth: int = 56
) -> dict:
    """ResNet-``depth`` over ``n`` CIFAR-shaped images (``device``/``n``/``depth`` for smoke runs)."""
    from torch.utils.flop_counter import FlopCounterMode

    from depthlab.nets import resnet_cifar

    device = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=g)  # CPU, as a dataset would be
    y = torch.randint(0, 10, (n,), generator=g)
    torch.manual_seed(0)
    model = resnet_cifar(depth).to(device).eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x[:256].to(device))
    flops_per_point = fc.get_total_flops() / 256 * n
    variants = [
        ("fp32, data on device, batch 2048", landscape.SurfaceOptions(batch_size=2048)),
        (
            "bf16 autocast, data on device, batch 4096",
            landscape.SurfaceOptions(batch_size=4096, autocast_bf16=True),
        ),
    ]
    variants.append(
        (
            "bf16 autocast + channels_last, batch 4096",
            landscape.SurfaceOptions(batch_size=4096, autocast_bf16=True, channels_last=True),
        )
    )
    variants.append(
        (
            "bf16 autocast + channels_last, whole set in one batch",
            landscape.SurfaceOptions(batch_size=n, autocast_bf16=True, channels_last=True),
        )
    )
    variants.append(
        (
            "bf16 autocast + channels_last, vmap 4 points per call, batch 2048",
            landscape.SurfaceOptions(
                batch_size=2048, autocast_bf16=True, channels_last=True, points_per_call=4
            ),
        )
    )
    if compile_:
        variants.append(
            (
                "bf16 autocast + torch.compile, batch 4096",
                landscape.SurfaceOptions(
                    batch_size=4096, autocast_bf16=True, channels_last=True, compile=True
                ),
            )
        )
    label = f"resnet{depth} / {n} CIFAR-shaped synthetic images"
    out = _case(label, model, x, y, 4, 16 if quick else 64, variants)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    peak = next((v for k, v in PEAKS.items() if k in name), None)
    out["gpu"] = name
    out["flops_per_point"] = flops_per_point
    for v in out["ours"]:
        tflops = flops_per_point * v["points_per_s"] / 1e12
        v["tflop_per_s"] = tflops
        key = "bf16" if v["options"]["autocast_bf16"] else "fp32"
        v["peak_tflop_per_s"] = None if peak is None else peak[key]
        v["fraction_of_peak"] = None if peak is None else tflops / peak[key]
    out["baseline"]["tflop_per_s"] = flops_per_point * out["baseline"]["points_per_s"] / 1e12
    out["target"] = ">= 30x baseline points/s (issue 6); reference took 0.86 s/point on an H100"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller data and grids")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU cases")
    ap.add_argument("--compile", action="store_true", help="add a torch.compile variant on GPU")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()
    report = {
        "benchmark": "landscape surface points/s",
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cases": [],
    }
    if not args.no_cpu:
        report["cases"] += cpu_cases(args.quick)
    if torch.cuda.is_available():
        report["cases"].append(gpu_case(args.quick, args.compile))
    else:
        report["gpu"] = "no CUDA device here: GPU case not run"
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
