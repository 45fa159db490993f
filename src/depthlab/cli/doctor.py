"""`depthlab doctor TARGET`: per-layer init diagnosis of any model (thin; the work is in probes/doctor)."""

from __future__ import annotations

import json
import re

import typer

from depthlab.cli.app import app, console, fail

_COLORS = {"ok": "green", "warn": "yellow", "bad": "red", "info": "dim"}
_VERDICT_COLORS = {"healthy": "green", "warning": "yellow", "unhealthy": "red"}


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(t) for t in text.replace("x", ",").split(",") if t.strip())
    except ValueError:
        fail(f"--input-shape {text!r} is not a list of integers; write e.g. 3,32,32")
    if not dims or min(dims) < 1:
        fail(f"--input-shape {text!r} must list positive integers, e.g. 3,32,32")
    return dims


def _check_zoo_widths(target: str) -> None:
    """``mlp:W0-W1-...``: positive integers joined by single dashes (``mlp:-1-5`` is refused)."""
    name, sep, arg = target.partition(":")
    if name == "mlp" and sep and not re.fullmatch(r"[1-9][0-9]{0,6}(-[1-9][0-9]{0,6})+", arg):
        fail(
            f"bad widths {arg!r} in {target!r}: give at least two positive integers joined by "
            "dashes, e.g. mlp:784-64-64-10"
        )


@app.command("doctor")
def doctor_cmd(
    target: str = typer.Argument(
        ...,
        help="package.module:factory, a zoo model (mlp:784-64-64-10, resnet20, cnn1d, resnet1d) "
        "or a TorchScript file.",
    ),
    init: str = typer.Option(
        None, "--init", help="Re-initialize with this scheme first (e.g. he_normal)."
    ),
    input_shape: str = typer.Option(
        None, "--input-shape", help="Input shape without the batch dim, e.g. 3,32,32."
    ),
    seed: int = typer.Option(
        0, "--seed", min=0, max=2**63 - 1, help="Seed for --init and the example input."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the diagnosis as JSON."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 unless the verdict is healthy."),
) -> None:
    """Diagnose exploding/vanishing at init: per-layer variance, truncation, drift and beta."""
    import torch

    from depthlab.nets.load import load_target
    from depthlab.probes.doctor import diagnose

    _check_zoo_widths(target)
    try:
        model, example = load_target(target, init=init, seed=seed)
    except ValueError as exc:
        fail(str(exc))
    if input_shape is not None:
        p = next(iter(model.parameters()), None)
        kw = {"dtype": p.dtype, "device": p.device} if p is not None else {}
        g = torch.Generator().manual_seed(seed)  # drawn on the CPU, then moved: any device
        example = torch.randn(2, *_shape(input_shape), generator=g).to(**kw)
    try:
        diag = diagnose(model, example)
    except (ValueError, FloatingPointError) as exc:  # FloatingPointError: NaN/Inf weights, named
        fail(str(exc))
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        tried = "x".join(map(str, example.shape[1:])) if example is not None else "?"
        how = "--input-shape" if input_shape is not None else "a guessed input"
        fail(
            f"the forward pass on an input of shape {tried} ({how}, batch 2 added) failed "
            f"({first}); {_first_layer_hint(model)}"
        )

    if as_json:
        out = {"target": target, **diag.to_dict()}  # NaN/Inf -> null, why_null says why
        typer.echo(json.dumps(out, indent=2, default=str, allow_nan=False))
    else:
        _print(target, diag)
    if strict and not diag.healthy:
        raise typer.Exit(1)


def _first_layer_hint(model) -> str:
    """What the first weight layer (registration order) expects, as an --input-shape hint."""
    from torch import nn

    for name, m in model.named_modules():
        if isinstance(m, nn.Linear):
            return (
                f"the first layer {name!r} (Linear) expects {m.in_features} input features in "
                f"the last dimension: pass e.g. --input-shape {m.in_features}"
            )
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            rank = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}[type(m)]
            eg = ",".join([str(m.in_channels), *["32"] * rank])
            return (
                f"the first layer {name!r} ({type(m).__name__}) expects {m.in_channels} input "
                f"channels and {rank} spatial dimension(s): pass e.g. --input-shape {eg}"
            )
        if isinstance(m, nn.MultiheadAttention):
            return (
                f"the first layer {name!r} (MultiheadAttention) expects embed_dim {m.embed_dim} "
                f"in the last dimension: pass e.g. --input-shape 8,{m.embed_dim}"
            )
    return "pass --input-shape with the shape of one input (without the batch dimension)"


def _print(target: str, diag) -> None:
    from rich.table import Table

    table = Table(title=f"depthlab doctor: {target}")
    for col in (
        "#",
        "layer",
        "fan_in",
        "width",
        "Var/(2/fan_in)",
        "kurtosis",
        "max|w|/std",
        "weights",
        "next",
        "E[M] gain",
        "cum E[M]",
        "β share",
        "verdict",
    ):
        table.add_column(col, overflow="fold")
    for r in diag.layers:
        c = _COLORS[r.verdict]
        table.add_row(
            str(r.index),
            f"{r.name} ({r.kind})",
            str(r.fan_in),
            str(r.width),
            f"{r.ratio:.3f}",
            f"{r.kurtosis:.2f}" if r.distribution != "constant" else "-",  # undefined: no spread
            f"{r.max_over_std:.2f}" if r.distribution != "constant" else "-",
            r.distribution,
            r.followed_by,
            f"{r.gain:.3f}",
            f"{r.cum_gain:.3g}",
            f"{r.beta_share:.0%}" if r.beta_share else "",
            f"[{c}]{r.verdict}[/]",
        )
    console.print(table)
    vc = _VERDICT_COLORS[diag.verdict]
    console.print(f"[bold {vc}]{diag.verdict}[/]", highlight=False)
    console.print(diag.summary().split("\n", 1)[1], highlight=False, markup=False)
