"""Benchmark: loss-surface points per second, fast path vs the reference loop, same process.

Baseline: :func:`depthlab.landscape.reference_surface` in fp32 (weights copied
into the model at each grid point, a DataLoader of batches of 128, one point at a time), which is
how Li et al.'s reference code evaluates a surface. Ours: the evaluator behind
:func:`depthlab.landscape.surface`, timed in steady state (the first point, which compiles, is
timed apart) so that compiled variants are not charged their one-off compile per point.

CPU cases (unless ``--no-cpu``): an MLP on MNIST-1D and a small 1-D ResNet on MNIST-1D.
ResNet case (where CUDA exists, or ``--cpu-smoke``): ResNet-56 over 10k CIFAR-shaped synthetic
images (BN statistics estimated on the data, as after training), in variant groups run as separate processes by
``benchmarks/gpu_checks.sh``: ``eager`` (fp32 BN unfolded/folded, bf16 channels-last
unfolded/folded), ``compile`` (fp32 compiled, bf16 compiled unfolded = the issue's 1.2e-2
variant, bf16 compiled folded), ``autotune`` (bf16 folded, ``max-autotune-no-cudagraphs``). Each
variant reports points/s, the ratio to the reference, TFLOP/s, the fraction of the card's dense
bf16 peak, recompiles after the first point, the largest pointwise relative difference against
the float64 reference loop and against exact fp32 on a 3x3 grid, and the extrapolated time of a
51x51 surface over 50k images. Prints one JSON object (``--out`` rewrites it after each variant).

    PYTHONPATH=src python benchmarks/bench_landscape.py [--quick] [--out bench.json]
    PYTHONPATH=src python benchmarks/bench_landscape.py --no-cpu --variants eager,compile,autotune
    PYTHONPATH=src python benchmarks/bench_landscape.py --cpu-smoke      # tiny, CPU, all variants
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from depthlab import landscape
from depthlab.landscape import reference_surface

CE = F.cross_entropy

# Dense peak TFLOP/s by card (fp32 without tensor cores, bf16 tensor cores), from vendor sheets
# (H100/H200 SXM: 989 TFLOP/s dense bf16).
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


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def resnet_variants(n: int, only: str) -> list[tuple[str, str, landscape.SurfaceOptions]]:
    """(group, label, options): ``eager`` / ``compile`` / ``autotune`` groups, each its own step."""
    SO = landscape.SurfaceOptions
    big = min(n, 5000)
    v = [
        ("eager", "fp32 eager, BN unfolded, batch 2048", SO(batch_size=2048, fold_bn=False)),
        ("eager", "fp32 eager, BN folded, batch 2048", SO(batch_size=2048)),
        (
            "eager",
            "bf16 + channels-last, BN unfolded, whole set in one batch",
            SO(batch_size=n, autocast_bf16=True, channels_last=True, fold_bn=False),
        ),
        (
            "eager",
            f"bf16 + channels-last, BN folded, batch {big}",
            SO(batch_size=big, autocast_bf16=True, channels_last=True),
        ),
        ("compile", "fp32 compiled, BN folded, batch 2048", SO(batch_size=2048, compile=True)),
        (
            "compile",
            "bf16 + channels-last compiled, BN unfolded, batch 4096 (the issue's 1.2e-2 variant)",
            SO(
                batch_size=4096, autocast_bf16=True, channels_last=True, compile=True, fold_bn=False
            ),
        ),
        (
            "compile",
            f"bf16 + channels-last compiled, BN folded, batch {big}",
            SO(batch_size=big, autocast_bf16=True, channels_last=True, compile=True),
        ),
        (
            "autotune",
            f"bf16 + channels-last, BN folded, max-autotune-no-cudagraphs, batch {big}",
            SO(
                batch_size=big,
                autocast_bf16=True,
                channels_last=True,
                compile="max-autotune-no-cudagraphs",
            ),
        ),
    ]
    groups = set(only.split(","))
    return [t for t in v if "all" in groups or t[0] in groups]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest pointwise relative difference |a - b| / |b| over the grid points."""
    return float(((a - b).abs() / b.abs()).max())


def resnet_case(
    device: str = "cuda",
    n: int = 10_000,
    depth: int = 56,
    width: int = 16,
    points: int = 64,
    ref_points: int = 4,
    only: str = "all",
    compile_backend: str = "inductor",
    dump=None,
) -> dict:
    """ResNet-``depth`` over ``n`` CIFAR-shaped images: every variant against the reference loop.

    Per variant: steady-state points/s (the first point, which compiles, is timed apart as
    ``first_point_s``), the ratio to the fp32 reference loop (DataLoader batch 128, one point at
    a time, same process), TFLOP/s (nominal FLOPs of the unfolded net), the fraction of the
    card's dense bf16 peak, recompiles after the first point (Dynamo graphs), and on a 3x3 check
    grid the largest pointwise relative difference against the float64 reference loop and
    against the exact-fp32 eager variant; ``s_51x51_50k`` extrapolates a 51x51 surface over
    50k images (time per point scales with the number of images).
    """
    from torch.utils.flop_counter import FlopCounterMode

    from depthlab.nets import CifarResNet
    from depthlab.probes.landscape._evaluator import _Evaluator

    dev = torch.device(device)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, 32, 32, generator=g)  # CPU, as a dataset would be
    y = torch.randint(0, 10, (n,), generator=g)
    model = CifarResNet(depth, width=width, generator=torch.Generator().manual_seed(0))
    # BN statistics as after training: estimated on the data (cumulative average, one pass over
    # up to 2048 images). Fresh ones (mean 0, var 1) leave a deep untrained net unnormalized, its
    # logits huge and its loss dominated by rounding: accuracy figures would measure that.
    model = model.to(dev).train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
            m.reset_running_stats()
    with torch.no_grad():
        for i in range(0, min(n, 2048), 256):
            model(x[i : i + 256].to(dev))
    model.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(x[:64].to(dev))
    flops_per_point = fc.get_total_flops() / 64 * n
    dirs = (landscape.random_direction(model, seed=0), landscape.random_direction(model, seed=1))
    check = landscape.Grid((-1.0, 0.0, 1.0), (-1.0, 0.0, 1.0))
    t_base, _ = _time_reference(model, x, y, dirs, _grid_for(ref_points))
    base_pps = _grid_for(ref_points).points().shape[0] / t_base
    _sync(dev)
    t0 = time.perf_counter()
    ref64, _ = reference_surface(model, CE, x, y, dirs, check, dtype=torch.float64)
    t64 = time.perf_counter() - t0
    ref64 = ref64.flatten()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    peak = next((v for k, v in PEAKS.items() if k in name), None)
    out = {
        "case": f"resnet{depth} (width {width}) / {n} CIFAR-shaped synthetic images",
        "device": str(dev),
        "device_name": name,
        "params": sum(p.numel() for p in model.parameters()),
        "n_examples": n,
        "flops_per_point": flops_per_point,
        "bf16_peak_tflop_per_s": None if peak is None else peak["bf16"],
        "baseline": {
            "impl": "reference loop, fp32 (torch defaults), DataLoader batch 128, one point at a time",
            "points": _grid_for(ref_points).points().shape[0],
            "seconds": t_base,
            "points_per_s": base_pps,
            "tflop_per_s": flops_per_point * base_pps / 1e12,
        },
        "float64_reference": {"points": 9, "seconds": t64, "loss": ref64.tolist()},
        "goal": ">= 40x reference (floor 25x); 51x51 over 50k <= 300 s; fp32 <= 1e-6 of float64; "
        "bf16 <= 3e-3 of fp32 at every point",
        "ours": [],
    }
    pts = _grid_for(points).points()
    # exact fp32 (TF32 off, BN unfolded, eager) on the check grid: what bf16 is held against
    ev32 = _Evaluator(
        model, CE, x, y, dirs, landscape.SurfaceOptions(batch_size=2048, fold_bn=False)
    )
    fp32_check = torch.cat([ev32(check.points()[i : i + 1])[0] for i in range(9)])
    out["fp32_exact_check"] = {
        "loss": fp32_check.tolist(),
        "max_rel_diff_vs_float64": _rel(fp32_check, ref64),
    }
    del ev32
    for group, label, opts in resnet_variants(n, only):
        opts = replace(opts, compile_backend=compile_backend)
        row: dict = {"group": group, "variant": label}
        try:
            ev = _Evaluator(model, CE, x, y, dirs, opts)
            k = ev.k
            g0 = _graphs()
            _sync(dev)
            t0 = time.perf_counter()
            ev(pts[:k])
            _sync(dev)
            row["first_point_s"] = time.perf_counter() - t0
            g1 = _graphs()
            t0 = time.perf_counter()
            for i in range(k, len(pts), k):
                ev(pts[i : i + k])
            _sync(dev)
            secs = time.perf_counter() - t0
            pps = (len(pts) - k) / secs
            row["recompiles_after_first_point"] = _graphs() - g1
            row["graphs_first_point"] = g1 - g0
            got = torch.cat([ev(check.points()[i : i + 1])[0] for i in range(9)])
        except Exception as exc:  # keep the other variants' numbers
            row["error"] = f"{type(exc).__name__}: {exc}"[:500]
            out["ours"].append(row)
            continue
        tflops = flops_per_point * pps / 1e12
        row.update(
            {
                "points": len(pts) - k,
                "seconds": secs,
                "points_per_s": pps,
                "ratio_vs_reference": pps / base_pps,
                "tflop_per_s": tflops,
                "fraction_of_bf16_peak": None if peak is None else tflops / peak["bf16"],
                "max_rel_diff_vs_float64": _rel(got, ref64),
                "max_rel_diff_vs_fp32": _rel(got, fp32_check),
                "s_51x51_50k": 2601 * (50_000 / n) / pps,
                "options": {
                    "batch_size": ev.batch,
                    "points_per_call": ev.k,
                    "autocast_bf16": opts.autocast_bf16,
                    "channels_last": ev.channels_last,
                    "compile": ev.compiled,
                    "compile_backend": opts.compile_backend if opts.compile else None,
                    "fold_bn": ev.folded,
                    "exact_fp32": ev.exact,
                },
            }
        )
        out["ours"].append(row)
        del ev
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        if dump is not None:
            dump(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller data and grids")
    ap.add_argument("--no-cpu", action="store_true", help="skip the CPU cases")
    ap.add_argument(
        "--variants",
        default="eager",
        help="ResNet groups, comma-separated: eager, compile, autotune, all (default eager)",
    )
    ap.add_argument("--n", type=int, default=10_000, help="images in the ResNet case")
    ap.add_argument("--points", type=int, default=64, help="grid points timed per variant")
    ap.add_argument(
        "--cpu-smoke",
        action="store_true",
        help="the ResNet case on the CPU at tiny sizes (ResNet-8, width 4, 64 images; compiled "
        "variants with the aot_eager backend): checks the machinery and the JSON, not speed",
    )
    ap.add_argument("--out", default=None, help="also write the JSON here (rewritten as it fills)")
    args = ap.parse_args()
    report = {
        "benchmark": "landscape surface points/s",
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cases": [],
    }

    def dump(case=None) -> str:
        cases = report["cases"] + ([case] if case is not None else [])
        text = json.dumps({**report, "cases": cases}, indent=2)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        return text

    if args.cpu_smoke:
        report["cases"].append(
            resnet_case(
                "cpu",
                n=64,
                depth=8,
                width=4,
                points=9,
                ref_points=4,
                only=args.variants if args.variants != "eager" else "all",
                compile_backend="aot_eager",
                dump=dump,
            )
        )
    else:
        if not args.no_cpu:
            report["cases"] += cpu_cases(args.quick)
        if torch.cuda.is_available():
            report["cases"].append(
                resnet_case(
                    "cuda",
                    n=args.n,
                    points=16 if args.quick else args.points,
                    only=args.variants,
                    dump=dump,
                )
            )
        else:
            report["gpu"] = "no CUDA device here: GPU case not run"
    print(dump())


if __name__ == "__main__":
    main()
