"""The paper's figures redrawn from this run's outputs (and Figure 4 computed on the spot).

Each ``figure_*`` function takes plain data (already read from the run's files by
:mod:`stbn.commands.figure`) and returns a matplotlib :class:`~matplotlib.figure.Figure`;
:func:`save_figure` writes it as PNG and PDF. No pyplot state is used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from stbn.analysis.warp_stats import (
    FIGURE4_SHIFT,
    FIGURE4_SIZE,
    FIGURE4_ZOOM,
    constant_flow,
    figure4_flows,
    warp_noise_stats,
)
from stbn.data.atomic import atomic_output
from stbn.ops.warp import flow_warp


@dataclass(frozen=True)
class Curve:
    """A labelled series: ``x`` and ``y`` of equal length."""

    label: str
    x: Sequence[float]
    y: Sequence[float]


def save_figure(fig: Figure, prefix: str | Path) -> list[Path]:
    """Write ``prefix.png`` (150 dpi) and ``prefix.pdf`` atomically; return the paths."""
    prefix = Path(prefix)
    paths = [prefix.with_name(prefix.name + ext) for ext in (".png", ".pdf")]
    for path in paths:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=150, bbox_inches="tight", format=path.suffix[1:])
    return paths


def _warped_noise(flow: torch.Tensor, mode: str, seed: int) -> np.ndarray:
    _, h, w = flow.shape
    noise = torch.randn(1, 1, h, w, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return flow_warp(noise, flow[None], mode)[0, 0].numpy()  # type: ignore[arg-type]


def figure_warp_noise(
    size: int = FIGURE4_SIZE, shift: tuple[float, float] = FIGURE4_SHIFT, zoom: float = FIGURE4_ZOOM, seed: int = 0
) -> Figure:
    """Figure 4: what nearest and bilinear warping do to i.i.d. unit Gaussian noise.

    (a) histograms after a constant fractional shift; (b) variance ratio and neighbour correlations
    for the shift and for a zoom (a spatially varying flow); (c) the variance ratio against the
    fractional shift ``a`` (``dx = dy = a``), with bilinear's closed form ``((1-a)^2 + a^2)^2``.
    """
    shifted, zoomed = figure4_flows(size, shift, zoom).values()
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    ax_hist, ax_bar, ax_var = fig.subplots(1, 3)

    bins = np.linspace(-4, 4, 81)
    margin = int(math.ceil(max(abs(s) for s in shift))) + 1
    for mode, colour in (("nearest", "tab:blue"), ("bilinear", "tab:orange")):
        values = _warped_noise(shifted, mode, seed)[margin:-margin, margin:-margin].ravel()
        ax_hist.hist(values, bins=bins, density=True, histtype="step", lw=1.5, color=colour,
                     label=f"{mode} (var {values.var():.2f})")
    grid = np.linspace(-4, 4, 200)
    ax_hist.plot(grid, np.exp(-grid**2 / 2) / math.sqrt(2 * math.pi), "k--", lw=1, label="N(0, 1) before warping")
    ax_hist.set(title=f"(a) warped noise, shift ({shift[0]}, {shift[1]}) px", xlabel="value", ylabel="density")
    ax_hist.legend(fontsize=8)

    cases = [(f"{m}\nshift", shifted, m) for m in ("nearest", "bilinear")]
    cases += [(f"{m}\nzoom x{zoom}", zoomed, m) for m in ("nearest", "bilinear")]
    stats = [warp_noise_stats(flow, mode, seed) for _, flow, mode in cases]  # type: ignore[arg-type]
    pos = np.arange(len(cases))
    for offset, (name, values) in zip(
        (-0.27, 0.0, 0.27),
        (("variance ratio", [s.variance_ratio for s in stats]),
         ("corr. horizontal neighbours", [s.corr_x for s in stats]),
         ("corr. vertical neighbours", [s.corr_y for s in stats])),
    ):
        bars = ax_bar.bar(pos + offset, values, width=0.26, label=name)
        ax_bar.bar_label(bars, fmt="%.2f", fontsize=7)
    ax_bar.axhline(1.0, color="grey", lw=0.5, ls=":")
    ax_bar.axhline(0.0, color="grey", lw=0.5)
    ax_bar.set_xticks(pos, [c[0] for c in cases], fontsize=8)
    ax_bar.set(title="(b) variance ratio and neighbour correlation", ylim=(-0.1, 1.25))
    ax_bar.legend(fontsize=8, loc="upper right")

    fractions = np.linspace(0.0, 1.0, 21)
    for mode, colour in (("nearest", "tab:blue"), ("bilinear", "tab:orange")):
        measured = [warp_noise_stats(constant_flow(96, 96, a, a), mode, seed).variance_ratio for a in fractions]
        ax_var.plot(fractions, measured, "o", ms=3, color=colour, label=f"{mode} (measured)")
    ax_var.plot(fractions, ((1 - fractions) ** 2 + fractions**2) ** 2, "-", color="tab:orange", lw=1,
                label="bilinear, closed form")
    ax_var.set(title="(c) variance kept against sub-pixel shift", xlabel="fractional shift a (dx = dy = a)",
               ylabel="variance ratio", ylim=(0, 1.1))
    ax_var.legend(fontsize=8)
    return fig


def _line_figure(curves: Sequence[Curve], title: str, xlabel: str, ylabel: str) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for curve in curves:
        ax.plot(curve.x, curve.y, "o-", ms=3, label=curve.label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def figure_training_curves(curves: Sequence[Curve]) -> Figure:
    """Figure 7: validation PSNR against the training step, one curve per run (e.g. nearest, bilinear)."""
    fig, ax = _line_figure(curves, "Validation PSNR during training", "training step", "validation PSNR (dB)")
    ax.legend(fontsize=8)
    return fig


def figure_lambda(lams: Sequence[float], psnrs: Sequence[float], ssims: Sequence[float]) -> Figure:
    """Figure 10: test PSNR (and SSIM) against the distillation weight lambda (0 = no distillation)."""
    order = np.argsort(lams)
    pos = np.arange(len(lams))
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(pos, np.asarray(psnrs)[order], "o-", color="tab:blue", label="PSNR")
    ax.set_xticks(pos, [f"{lams[i]:g}" for i in order])
    ax.set(title="PSNR against the distillation weight λ", xlabel="λ (0: no flow distillation)", ylabel="PSNR (dB)")
    twin = ax.twinx()
    twin.plot(pos, np.asarray(ssims)[order], "s--", color="tab:green", label="SSIM")
    twin.set_ylabel("SSIM")
    fig.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def log_time_fit(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """``(a, b)`` of ``y = a + b ln(x)`` fitted to the later half of the points at positive times (all
    of them if fewer than 6); None with fewer than 3 distinct times, where any line would fit."""
    pts = [(xi, yi) for xi, yi in zip(x, y) if xi > 0]
    pts = pts[len(pts) // 2 :] if len(pts) >= 6 else pts
    if len({xi for xi, _ in pts}) < 3:
        return None
    b, a = np.polyfit(np.log([xi for xi, _ in pts]), [yi for _, yi in pts], 1)
    return float(a), float(b)


def log_time_crossing(x: Sequence[float], y: Sequence[float], target: float) -> float | None:
    """Time at which the :func:`log_time_fit` trend reaches ``target`` (None if it does not rise).

    A rough extrapolation, for a caption's "it would need about ..." and nothing more.
    """
    fit = log_time_fit(x, y)
    if fit is None or fit[1] <= 0:
        return None
    return float(math.exp((target - fit[0]) / fit[1]))


def figure_budget(curves: Sequence[Curve], finals: Sequence[Curve], baseline: tuple[str, float] | None,
                  time_unit: str) -> Figure:
    """PSNR against training time per STBN run (``curves``: validation points; ``finals``: the test
    evaluation at the end of training), the best classical baseline as a horizontal line, and where
    a curve ends below that line, a dotted log-time extrapolation up to the crossing."""
    fig, ax = _line_figure(curves, "Quality against training budget", f"training wall time ({time_unit})", "PSNR (dB)")
    for final in finals:
        ax.plot(final.x, final.y, "*", ms=11, label=final.label)
    if baseline is not None:
        name, value = baseline
        ax.axhline(value, color="black", ls="--", lw=1, label=f"best baseline: {name} ({value:.2f} dB)")
        for curve in curves:
            crossing = log_time_crossing(curve.x, curve.y, value)
            if crossing is None or max(curve.y) >= value or crossing > 1000 * max(curve.x):
                continue
            a, b = log_time_fit(curve.x, curve.y)  # type: ignore[misc]
            xs = np.geomspace(max(curve.x), crossing, 20)
            ax.plot(xs, a + b * np.log(xs), ":", color="grey",
                    label=f"{curve.label}: log-time trend reaches it at ~{crossing:.3g} {time_unit}")
            ax.set_xscale("log")
    ax.legend(fontsize=7)
    return fig


def figure_visual(crops: Sequence[Sequence[np.ndarray]], rows: Sequence[str], columns: Sequence[str],
                  scores: Sequence[Sequence[str]]) -> Figure:
    """A grid of image crops: one row per test sequence, one column per method (``(h, w, 3)`` in [0, 1]);
    ``scores`` are per-cell captions (e.g. the frame's PSNR)."""
    n_rows, n_cols = len(rows), len(columns)
    fig = Figure(figsize=(2.2 * n_cols, 2.3 * n_rows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_rows, n_cols, squeeze=False))
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            ax.imshow(np.clip(crops[r][c], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(scores[r][c], fontsize=8)
            if r == 0:
                ax.set_title(columns[c], fontsize=9)
            if c == 0:
                ax.set_ylabel(rows[r], fontsize=9)
    return fig
