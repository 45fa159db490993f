"""Batched training of K small MLPs (``fit_batched``) against K sequential ``fit`` runs.

Prints one JSON object: baseline (sequential) time, batched time, their ratio, device and sizes.
Both paths train the same K models from the same initializations with the same batch orders,
and the script checks that they end at the same parameters before reporting.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_train_batched.py
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from depthlab import nets
from depthlab.data.base import Dataset
from depthlab.init import initialize
from depthlab.train import TrainConfig, fit
from depthlab.train_batched import fit_batched


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=64)
    ap.add_argument("--widths", default="8-32-32-1")
    ap.add_argument("--n-train", type=int, default=1024)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()

    device = torch.device(args.device)
    widths = nets.parse_widths(args.widths)
    g = torch.Generator().manual_seed(0)
    x = 2 * torch.rand(args.n_train + 512, widths[0], generator=g)
    y = x.prod(dim=1, keepdim=True)
    data = Dataset(
        x[: args.n_train], y[: args.n_train], x[args.n_train :], y[args.n_train :], "regression"
    ).to(device)
    cfg = TrainConfig(
        optimizer="adam", lr=3e-3, epochs=args.epochs, batch_size=args.batch_size, loss="mse"
    )
    models = []
    for s in range(args.models):
        m = nets.mlp(widths, activation="tanh")
        initialize(m, "lecun_normal", torch.Generator().manual_seed(s))
        models.append(m.to(device))
    seq_models = copy.deepcopy(models)

    t0 = time.perf_counter()
    for s, m in enumerate(seq_models):
        fit(m, data, cfg, generator=torch.Generator().manual_seed(s))
    t_seq = time.perf_counter() - t0

    t0 = time.perf_counter()
    fit_batched(
        models, data, cfg, generators=[torch.Generator().manual_seed(s) for s in range(args.models)]
    )
    t_bat = time.perf_counter() - t0

    max_diff = max(
        float((a - b).detach().abs().max())
        for ms, mb in zip(seq_models, models, strict=True)
        for a, b in zip(ms.parameters(), mb.parameters(), strict=True)
    )
    print(
        json.dumps(
            {
                "benchmark": "train_batched",
                "baseline": "sequential depthlab.train.fit, one model at a time",
                "baseline_s": round(t_seq, 4),
                "ours_s": round(t_bat, 4),
                "ratio": round(t_seq / t_bat, 2),
                "device": str(device),
                "threads": torch.get_num_threads(),
                "models": args.models,
                "widths": widths,
                "n_train": args.n_train,
                "epochs": args.epochs,
                "batch_size": args.batch_size,
                "steps_per_model": args.epochs * -(-args.n_train // args.batch_size),
                "max_abs_param_diff": max_diff,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
