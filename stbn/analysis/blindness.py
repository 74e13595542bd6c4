"""Measure the blindness of a model by exact gradients.

STBN (:func:`check_blindness`): for a query ``(t, y, x)`` the output ``out[t, :, y, x]`` must have
exactly zero gradient with respect to every pixel of the *current* noisy frame ``x_t`` at an (even,
even) offset from ``(y, x)``, and non-zero gradient elsewhere within its receptive field (STBN_SPEC.md
section 2); :func:`lattice_shares` measures how much a (fitted) model uses that lattice in the other
frames. UDVD (:func:`check_pixel_blindness`): zero gradient with respect to pixel ``(y, x)`` of every
frame, non-zero with respect to its neighbours in every frame of the window (UDVD_SPEC.md section 6).
Queries are batched as independent samples, so one forward/backward pass measures all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from stbn.models.network import STBN
from stbn.models.udvd import UDVD


@dataclass(frozen=True)
class QueryResult:
    """Gradient census of one query ``(t, y, x, channel)``; ``channel`` None = random projection."""

    t: int
    y: int
    x: int
    channel: int | None
    lattice_leaks: int  # (even, even) offsets with non-zero gradient (must be 0)
    off_lattice_nonzero: int  # other pixels of frame t with non-zero gradient
    off_lattice_total: int
    neighbour_frames_see_q: bool  # x_{t-1}(q) or x_{t+1}(q) has non-zero gradient (when they exist)


def random_flows(n: int, t: int, h: int, w: int, scale: float = 2.5, generator: torch.Generator | None = None):
    """Random non-integer flows ``(fwd, bwd)``, each ``(n, t-1, 2, h, w)``, in ``[-scale, scale]`` px."""
    shape = (n, max(t - 1, 0), 2, h, w)
    f = (torch.rand(shape, generator=generator) * 2 - 1) * scale
    b = (torch.rand(shape, generator=generator) * 2 - 1) * scale
    return f, b


def check_blindness(
    net: STBN,
    frames: int,
    height: int,
    width: int,
    queries: Sequence[tuple[int, int, int]],
    per_channel: bool = True,
    zero_flow: bool = False,
    sigma: float = 30 / 255,
    seed: int = 0,
) -> list[QueryResult]:
    """Census of gradients for each ``(t, y, x)`` in ``queries`` on a random clip.

    With ``per_channel`` every output channel is a separate query; otherwise each query uses a random
    projection of all output channels (cheaper; a generic projection cannot cancel a non-zero gradient).
    Flows are random and fractional (shared by all queries), or zero with ``zero_flow``: only then
    must the co-located pixel of a neighbouring frame be visible, since a random flow may fetch the
    neighbour's state from a pixel on q's own lattice, which that state is blind to.
    """
    gen = torch.Generator().manual_seed(seed)
    channels: list[int | None] = list(range(net.out_channels)) if per_channel else [None]
    items = [(q, c) for q in queries for c in channels]
    n = len(items)
    f, b = random_flows(1, frames, height, width, scale=0.0 if zero_flow else 2.5, generator=gen)
    flows = (f.expand(n, -1, -1, -1, -1), b.expand(n, -1, -1, -1, -1))
    shape = (frames, net.in_channels, height, width)
    sens = _sensitivity(lambda noisy: net(noisy, noise_map=sigma, flows=flows), shape, items, net.out_channels, gen)
    yy = torch.arange(height).view(-1, 1)
    xx = torch.arange(width).view(1, -1)
    results = []
    for i, ((t, y, x), c) in enumerate(items):
        lattice = ((yy - y) % 2 == 0) & ((xx - x) % 2 == 0)
        cur = sens[i, t]
        neighbours = [sens[i, s, y, x] for s in (t - 1, t + 1) if 0 <= s < frames]
        results.append(
            QueryResult(
                t=t,
                y=y,
                x=x,
                channel=c,
                lattice_leaks=int((cur[lattice] != 0).sum()),
                off_lattice_nonzero=int((cur[~lattice] != 0).sum()),
                off_lattice_total=int((~lattice).sum()),
                neighbour_frames_see_q=bool(neighbours) and any(float(v) != 0 for v in neighbours),
            )
        )
    return results


def _sensitivity(
    run: Callable[[torch.Tensor], torch.Tensor],
    shape: tuple[int, int, int, int],
    items: Sequence[tuple[tuple[int, int, int], int | None]],
    out_channels: int,
    gen: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``|d out_i[t, c, y, x] / d noisy_i|`` summed over input channels, one sample ``i`` per item
    ``((t, y, x), c)`` (``c`` None: a random projection of all channels): ``(len(items), T, H, W)``.

    ``run`` maps a random clip ``(len(items), *shape)`` to the model output ``(N, T, out, H, W)``.
    """
    noisy = torch.rand(len(items), *shape, generator=gen).to(dtype).requires_grad_(True)
    proj = torch.randn(out_channels, generator=gen).to(dtype)
    out = run(noisy)
    total = out.new_zeros(())
    for i, ((t, y, x), c) in enumerate(items):
        total = total + (out[i, t, :, y, x] @ proj if c is None else out[i, t, c, y, x])
    (grad,) = torch.autograd.grad(total, noisy)
    return grad.abs().sum(dim=2)


def lattice_shares(net: STBN, frames: int = 6, size: int = 64, sigma: float = 30 / 255,
                   seed: int = 0) -> list[tuple[int, float, float]]:
    """Where a model looks, on a random clip ``(1, frames, C, size, size)`` with zero flow: per frame offset
    ``s - t`` from the query frame ``t = frames // 2`` (query pixel at the centre, first C output channels),
    the share of ``|d out(t, q) / d noisy|`` on frame s, and the share of frame s's on q's lattice
    ``q + 2Z^2`` (a quarter of its pixels; 0 on frame t, which is blind there)."""
    gen = torch.Generator().manual_seed(seed)
    c, t, q = net.in_channels, frames // 2, size // 2
    noisy = (0.5 + 0.1 * torch.randn(1, frames, c, size, size, generator=gen)).requires_grad_(True)
    zero = torch.zeros(1, frames - 1, 2, size, size)
    net(noisy, noise_map=sigma, flows=(zero, zero))[0, t, :c, q, q].sum().backward()
    g = noisy.grad[0].abs().sum(1)  # T,H,W
    lattice = torch.zeros(size, size, dtype=torch.bool)
    lattice[q % 2 :: 2, q % 2 :: 2] = True
    return [(s - t, float(g[s].sum() / g.sum()), float(g[s][lattice].sum() / g[s].sum())) for s in range(frames)]


@dataclass(frozen=True)
class PixelQueryResult:
    """Gradient census of one query ``(t, y, x, channel)`` of a window model; ``channel`` None = random
    projection."""

    t: int
    y: int
    x: int
    channel: int | None
    pixel_leaks: tuple[int, ...]  # frames whose pixel (y, x) has non-zero gradient (must be none)
    frames_seen: tuple[int, ...]  # frames with any non-zero gradient
    neighbours_seen: tuple[int, ...]  # frames in which every 4-neighbour of (y, x) has non-zero gradient
    seen: int  # pixels of frame t with non-zero gradient


def check_pixel_blindness(
    net: UDVD,
    frames: int,
    height: int,
    width: int,
    queries: Sequence[tuple[int, int, int]],
    per_channel: bool = False,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
) -> list[PixelQueryResult]:
    """Census of gradients for each ``(t, y, x)`` in ``queries`` on a random clip, run in ``dtype``.

    UDVD's contract: ``frames_seen`` is its window ``clamp(t - 2 .. t + 2)``, which is also
    ``neighbours_seen``, and ``pixel_leaks`` is empty. ``per_channel`` as for :func:`check_blindness`.
    The model is converted to ``dtype`` in place. A blind pixel has no path to the output, so its
    gradient is exactly zero in any precision; float32 runs these convolutions ~25x faster than float64
    on a CPU.
    """
    gen = torch.Generator().manual_seed(seed)
    channels: list[int | None] = list(range(net.out_channels)) if per_channel else [None]
    items = [(q, c) for q in queries for c in channels]
    net.to(dtype)
    sens = _sensitivity(net, (frames, net.in_channels, height, width), items, net.out_channels, gen, dtype)
    results = []
    for i, ((t, y, x), c) in enumerate(items):
        near = [(y + dy, x + dx) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        near = [(a, b) for a, b in near if 0 <= a < height and 0 <= b < width]
        results.append(
            PixelQueryResult(
                t=t,
                y=y,
                x=x,
                channel=c,
                pixel_leaks=tuple(f for f in range(frames) if sens[i, f, y, x] != 0),
                frames_seen=tuple(f for f in range(frames) if bool((sens[i, f] != 0).any())),
                neighbours_seen=tuple(f for f in range(frames) if all(sens[i, f, a, b] != 0 for a, b in near)),
                seen=int((sens[i, t] != 0).sum()),
            )
        )
    return results
