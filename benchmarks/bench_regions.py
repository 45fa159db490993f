"""Exact region counting: depthlab against regioncam, same nets and planes, one process.

Usage::

    python benchmarks/bench_regions.py            # CPU sizes that finish in about a minute
    python benchmarks/bench_regions.py --full     # adds 784-256x4 (regioncam: ~70 s on one core)
    python benchmarks/bench_regions.py --device cuda --full
    python benchmarks/bench_regions.py --only-1d --repeat 3   # the batched 1-D case alone
    OMP_NUM_THREADS=1 python benchmarks/bench_regions.py --only-1d --repeat 5 --threads

Prints one JSON object: for each case the sizes, the region counts of both (they must agree),
baseline (regioncam) time, our time, ``ratio = ours / baseline`` (<= 1 means we are faster) and the
device. Timings are the best of ``--repeat`` runs. regioncam works in float32 on one CPU core;
depthlab in float64 on the chosen device (the 1-D case also times depthlab's opt-in float32 mode
and the previous 1-D engine). In 1-D the ratio is of throughputs (segments per second):
``ratio = regioncam's / ours``, ``throughput_gain = ours / regioncam's`` per engine (the torch
engine and the fused numba kernel, float64 and float32), times in CPU seconds of the process;
``--threads`` adds the 1-D engines at 1 and 2 torch threads (wall time). The 1-D case also
reports microseconds per segment (with the 10x goal's) and how many of the kernel's stages took
its lean step.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import torch

from depthlab import pl, regions
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


def _rc_layers(model) -> list[tuple[np.ndarray, np.ndarray]]:
    lins = [m for m in model if isinstance(m, torch.nn.Linear)]
    return [
        (
            lin.weight.detach().cpu().numpy().T.astype(np.float32).copy(),
            lin.bias.detach().cpu().numpy().astype(np.float32),
        )
        for lin in lins
    ]


def _cpu_best(fn, repeat: int):
    """Best of ``repeat`` runs in CPU seconds of this process (robust to other processes on a
    shared machine; equal to wall time for one thread)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return best, out


def bench_1d(widths, n_segments, n_baseline, device, repeat) -> dict:
    """Segments between pairs of standard normal points, 784-D. regioncam's 1-D object takes one
    line at a time: it runs over the first ``n_baseline`` segments (``size=2.0`` makes its line
    exactly the segment), with its weights converted to numpy once, outside the timing. Ours runs
    over all ``n_segments`` at once: the torch engine in float64 (the reference) and float32, the
    fused numba kernel (:mod:`depthlab.probes._regions_kernel`) in float64 and float32, and the
    previous general engine. All are timed interleaved, best of ``repeat`` in CPU seconds of this
    process (one thread: the same as wall time on an idle machine), so a shared machine's load
    hits them alike. Counts are compared on every segment: the kernel against the float64 torch
    engine on all ``n_segments``, and both against regioncam on its segments."""
    import regioncam

    from depthlab.probes._regions_kernel import available
    from depthlab.probes.regions._one_d_fast import trace_segments_fast

    model = _net(widths, 0, device)
    g = torch.Generator().manual_seed(2)
    a = torch.randn(n_segments, widths[0], generator=g)
    b = torch.randn(n_segments, widths[0], generator=g)
    layers = _rc_layers(model)
    pairs = torch.stack([a[:n_baseline], b[:n_baseline]], 1).numpy().astype(np.float32)

    def theirs():
        counts, ends = [], []
        for i in range(n_baseline):
            rc = regioncam.Regioncam1D.through_points(pairs[i], size=2.0)
            for k, (w, bias) in enumerate(layers):
                rc.linear(w, bias)
                if k < len(layers) - 1:
                    rc.relu()
            counts.append(rc.num_edges)
            ends.append((float(rc.inputs[0]), float(rc.inputs[-1])))
        return counts, ends

    ad, bd = a.to(device), b.to(device)

    def ours(dtype, kernel):
        def run():
            tr, _ = trace_segments_fast(model, ad, bd, dtype=dtype, kernel=kernel)
            return tr.n_pieces

        return run

    def previous():  # the engine count_1d_batch used before (pl's one-pass Sequential path)
        return pl.trace_segments(model, ad, bd).n_pieces

    use_numba = available() and device.type == "cpu"
    runs = {
        "regioncam": theirs,
        "torch_float64": ours(torch.float64, "torch"),
        "torch_float32": ours(torch.float32, "torch"),
        "previous_engine": previous,
    }
    if use_numba:
        runs["numba_float64"] = ours(torch.float64, "numba")
        runs["numba_float32"] = ours(torch.float32, "numba")
        runs["numba_float64"]()  # compile (or load numba's cache) outside the timing
        runs["numba_float32"]()
    runs["torch_float64"]()  # warm-up (allocator, kernels)
    best = dict.fromkeys(runs, float("inf"))
    out = {}
    for _ in range(repeat):  # interleaved repeats, best of each
        for name, fn in runs.items():
            t, out[name] = _cpu_best(fn, 1)
            best[name] = min(best[name], t)
    counts, ends = out["regioncam"]
    n64 = out["torch_float64"]

    # same lines as regioncam's (its float32 end points): the counts must agree
    p = torch.from_numpy(pairs).double()
    d = p[:, 1] - p[:, 0]
    d = d / d.norm(dim=1, keepdim=True)
    mid = 0.5 * (p[:, 0] + p[:, 1])
    lo = torch.tensor([e[0] for e in ends], dtype=torch.float64)[:, None]
    hi = torch.tensor([e[1] for e in ends], dtype=torch.float64)[:, None]
    rc_a, rc_b = (mid + lo * d).to(device), (mid + hi * d).to(device)
    rc_counts = torch.tensor(counts)
    agree = {}
    for kernel in ("torch", "numba") if use_numba else ("torch",):
        check, _ = trace_segments_fast(model, rc_a, rc_b, kernel=kernel)
        agree[kernel] = f"{int((check.n_pieces.cpu() == rc_counts).sum())}/{n_baseline}"

    base_rate = n_baseline / best["regioncam"]
    rate = {k: n_segments / v for k, v in best.items() if k != "regioncam"}
    res = {
        "case": f"1d batch {'-'.join(map(str, widths))}",
        "segments_depthlab": n_segments,
        "segments_regioncam": n_baseline,
        "pieces_per_segment_regioncam": round(sum(counts) / n_baseline, 2),
        "pieces_per_segment_depthlab": round(float(n64.double().mean()), 2),
        "counts_agree_with_regioncam": agree,
        "torch_float32_counts_equal_float64": f"{int((out['torch_float32'] == n64).sum())}/{n_segments}",
        "previous_engine_counts_equal": bool(torch.equal(out["previous_engine"], n64)),
        "cpu_s": {k: round(v, 4) for k, v in best.items()},
        "segments_per_s": {"regioncam": round(base_rate, 1)}
        | {k: round(v, 1) for k, v in rate.items()},
        "throughput_gain": {k: round(v / base_rate, 2) for k, v in rate.items()},
        "us_per_segment": {"regioncam": round(1e6 / base_rate, 2)}
        | {k: round(1e6 / v, 2) for k, v in rate.items()},
        # issue 16's goal: 10x regioncam's segments per second
        "us_per_segment_for_10x": round(1e5 / base_rate, 2),
        # the default engine (count_1d on a batch): the numba kernel where installed
        "ratio": round(base_rate / rate["numba_float64" if use_numba else "torch_float64"], 4),
    }
    if use_numba:
        from depthlab.probes import _regions_kernel

        for name in ("numba_float64", "numba_float32"):
            res[f"{name}_counts_equal_torch_float64"] = (
                f"{int((out[name] == n64).sum())}/{n_segments}"
            )
            runs[name]()  # once more, for the kernel's count of lean and general stages
            res[f"{name}_stages"] = dict(_regions_kernel.LAST_STEPS)
    return res


def bench_threads(widths, n_segments, device, repeat) -> dict:
    """The 1-D engines with torch's intra-op threads at 1 and 2 (wall time, best of
    ``repeat``, interleaved). The numba kernel is single-threaded; its first-layer product uses
    BLAS's own threads (OPENBLAS_NUM_THREADS)."""
    from depthlab.probes._regions_kernel import available
    from depthlab.probes.regions._one_d_fast import trace_segments_fast

    model = _net(widths, 0, device)
    g = torch.Generator().manual_seed(2)
    a = torch.randn(n_segments, widths[0], generator=g).to(device)
    b = torch.randn(n_segments, widths[0], generator=g).to(device)
    kernels = ("torch", "numba") if available() and device.type == "cpu" else ("torch",)
    before = torch.get_num_threads()
    best: dict[str, float] = {}
    try:
        for _ in range(repeat):
            for threads in (1, 2):
                torch.set_num_threads(threads)
                for kernel in kernels:
                    t, _ = _best(lambda k=kernel: trace_segments_fast(model, a, b, kernel=k), 1)
                    key = f"{kernel}_threads_{threads}"
                    best[key] = min(best.get(key, float("inf")), t)
    finally:
        torch.set_num_threads(before)
    return {
        "case": f"1d threads {'-'.join(map(str, widths))}",
        "segments": n_segments,
        "wall_s": {k: round(v, 4) for k, v in best.items()},
        "segments_per_s": {k: round(n_segments / v, 1) for k, v in best.items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--full", action="store_true", help="include 784-256x4 (slow for regioncam)")
    ap.add_argument("--segments", type=int, default=10_000)
    ap.add_argument("--baseline-segments", type=int, default=500)
    ap.add_argument("--only-1d", action="store_true", help="only the batched 1-D case")
    ap.add_argument(
        "--threads",
        action="store_true",
        help="also time the 1-D engines with 1 and 2 torch threads (wall time)",
    )
    ap.add_argument(
        "--no-baseline-full",
        action="store_true",
        help="time only depthlab on 784-256x4 (for the absolute GPU target; regioncam takes ~70 s)",
    )
    args = ap.parse_args()
    dev = torch.device(args.device)
    cases = []
    if not args.only_1d:
        cases += [
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
    cases.append(
        bench_1d([784, 64, 64, 64, 1], args.segments, args.baseline_segments, dev, args.repeat)
    )
    if args.threads:
        cases.append(bench_threads([784, 64, 64, 64, 1], args.segments, dev, args.repeat))
    print(
        json.dumps(
            {
                "benchmark": "regions",
                "device": str(dev)
                + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
                "cpu": platform.processor() or platform.machine(),
                "torch_threads": torch.get_num_threads(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "load_average_1min": round(os.getloadavg()[0], 2),
                "cases": cases,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
