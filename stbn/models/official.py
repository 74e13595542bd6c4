"""Key mapping between checkpoints of the published STBN code and this package.

The published sRGB/raw models (``bdc_2_unify``, ``BR_d_c_raw``, ``bdc_flow``) are saved from a
``DataParallel`` wrapper, so their keys start with ``module.``. Their sub-modules map onto ours as

=======================================================  ======================================
published key prefix                                      ours
=======================================================  ======================================
``forward_rnn.head.`` / ``.branch1.body.`` / ``.tail.``  ``forward_cell.head.`` / ``.branch.`` / ``.tail.``
``backward_rnn.…`` (same)                                 ``backward_cell.…``
``concat.convs.``                                         ``fusion.layers.``
``d.encoder.interpolate.headConv.``                       ``srfe.head.``
``d.encoder.interpolate.body.G.body.B.body.body.``        ``srfe.body.G.blocks.B.body.``
``d.encoder.interpolate.tailConv.``                       ``srfe.tail.``
``d2.convs.``                                             ``out_head.layers.``
``pwcnet.…``                                              returned separately (the flow estimator's own format)
=======================================================  ======================================

The published masked convolution stores its mask as a buffer (``….branch1.body.0.mask``); ours masks
functionally, so that key is dropped on import and re-created on export.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from stbn.errors import StbnError

_RULES: tuple[tuple[str, str], ...] = (
    ("forward_rnn.head.", "forward_cell.head."),
    ("forward_rnn.branch1.body.", "forward_cell.branch."),
    ("forward_rnn.tail.", "forward_cell.tail."),
    ("backward_rnn.head.", "backward_cell.head."),
    ("backward_rnn.branch1.body.", "backward_cell.branch."),
    ("backward_rnn.tail.", "backward_cell.tail."),
    ("concat.convs.", "fusion.layers."),
    ("d.encoder.interpolate.headConv.", "srfe.head."),
    ("d.encoder.interpolate.body.{g}.body.{b}.body.body.", "srfe.body.{g}.blocks.{b}.body."),
    ("d.encoder.interpolate.tailConv.", "srfe.tail."),
    ("d2.convs.", "out_head.layers."),
)
_MASK_KEYS = ("forward_rnn.branch1.body.0.mask", "backward_rnn.branch1.body.0.mask")
_FLOW_PREFIX = "pwcnet."


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(template).replace(r"\{g\}", r"(?P<g>\d+)").replace(r"\{b\}", r"(?P<b>\d+)"))


def _rename(key: str, rules: tuple[tuple[str, str], ...]) -> str | None:
    for src, dst in rules:
        m = _pattern(src).match(key)
        if m:
            return dst.format(**m.groupdict()) + key[m.end() :]
    return None


def official_to_stbn(state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Split a published state dict into ``(denoiser_state, flow_state)`` in our naming.

    ``flow_state`` holds the ``pwcnet.`` entries with that prefix removed (keys as the PWC-Net port
    names them). Raises :class:`StbnError` on keys that belong to neither.
    """
    denoiser: dict[str, torch.Tensor] = {}
    flow: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        key = key.removeprefix("module.")
        if key in _MASK_KEYS:
            continue
        if key.startswith(_FLOW_PREFIX):
            flow[key[len(_FLOW_PREFIX) :]] = value
            continue
        new = _rename(key, _RULES)
        if new is None:
            unknown.append(key)
        else:
            denoiser[new] = value
    if unknown:
        more = " ..." if len(unknown) > 5 else ""
        raise StbnError(f"not a published STBN state dict: unexpected keys {unknown[:5]}{more}")
    return denoiser, flow


def stbn_to_official(state: Mapping[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Our denoiser state dict in the published naming (inverse of :func:`official_to_stbn`).

    Flow-estimator entries (``flow.``) are not exported; the mask buffers are re-created.
    """
    inverse = tuple((dst, src) for src, dst in _RULES)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith("flow."):
            continue
        new = _rename(key, inverse)
        if new is None:
            raise ValueError(f"stbn_to_official: key {key!r} has no published counterpart")
        out[prefix + new] = value
    for mask_key in _MASK_KEYS:
        weight = out.get(f"{prefix}{mask_key[: -len('mask')]}weight")
        if weight is not None:
            mask = torch.ones_like(weight)
            mask[:, :, weight.shape[2] // 2, weight.shape[3] // 2] = 0
            out[prefix + mask_key] = mask
    return out


def load_official_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Read a published checkpoint file (a state dict, or a dict holding one under a usual key) and
    return ``(denoiser_state, flow_state)`` in our naming."""
    from stbn.checkpoint import torch_load

    obj = torch_load(path)
    for key in ("state_dict", "model", "model_state_dict", "params"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise StbnError(f"{path}: does not contain a state dict of tensors")
    try:
        return official_to_stbn(obj)
    except StbnError as exc:
        raise StbnError(f"{path}: {exc}") from exc
