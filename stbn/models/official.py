"""The published STBN networks: their configs, and the key mapping between their checkpoints and ours.

The official code publishes three networks (STBN_SPEC.md sections 1 and 5.3), all at the paper's width
with PWC-Net inside (a registered submodule, so its weights are in the file):

=========  ===============  ==============================================================  ============
network    official class   ours                                                             step input
=========  ===============  ==============================================================  ============
``srgb``   ``bdc_2_unify``  preset ``paper-srgb``, PWC-Net (frozen in the paper)            3 + 64 + 3
``raw``    ``BR_d_c_raw``   preset ``paper-raw``, PWC-Net on the pseudo-RGB                  4 + 64
``flow``   ``bdc_flow``     ``paper-srgb`` without the noise map, PWC-Net refined by         3 + 64
                            distillation (the refined weights are the file's ``pwcnet.*``)
=========  ===============  ==============================================================  ============

:func:`load_published` recognises the network by its recurrent steps' input channels (the last column),
builds our model of it and loads the file's weights into it, every tensor checked.

The files are saved from a ``DataParallel`` wrapper, so their keys start with ``module.``. Their
sub-modules map onto ours as

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
from dataclasses import dataclass
from pathlib import Path

import torch

from stbn.config import ExperimentConfig, load_config
from stbn.errors import StbnError
from stbn.models.flow.pwcnet import from_port_state_dict
from stbn.models.network import STBN

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


@dataclass(frozen=True)
class PublishedNetwork:
    """One published network: its official class, our preset and overrides, its steps' input channels."""

    official_class: str
    preset: str
    overrides: tuple[str, ...]
    step_inputs: int
    """Input channels of ``forward_rnn.head.0.weight``: image + state (64) + noise map if any."""
    takes_sigma: bool


PUBLISHED_NETWORKS: dict[str, PublishedNetwork] = {
    "srgb": PublishedNetwork("bdc_2_unify", "paper-srgb", ("flow.estimator=pwcnet",), 70, True),
    "raw": PublishedNetwork("BR_d_c_raw", "paper-raw", ("flow.estimator=pwcnet",), 68, False),
    "flow": PublishedNetwork(
        "bdc_flow",
        "paper-srgb",
        ("model.noise_map=false", "flow.estimator=pwcnet", "flow.distill.enabled=true"),
        67,
        True,
    ),
}


def published_config(network: str, sigma: float | None = None) -> ExperimentConfig:
    """Our config of a published network; ``sigma`` (/255 scale) is the level an sRGB network was
    trained for (``data.sigma``), required for ``srgb`` and ``flow`` and refused for ``raw``."""
    spec = PUBLISHED_NETWORKS[network]
    if spec.takes_sigma and sigma is None:
        raise StbnError(f"the published {network} network ({spec.official_class}) needs the sigma it was trained for")
    if not spec.takes_sigma and sigma is not None:
        raise StbnError(f"the published {network} network ({spec.official_class}) takes no sigma (it covers every ISO)")
    sets = [f"name=published-{network}", *spec.overrides] + ([f"data.sigma={sigma}"] if sigma is not None else [])
    return load_config(spec.preset, sets)


def recognise_network(denoiser: Mapping[str, torch.Tensor], source: str = "state dict") -> str:
    """Which published network a denoiser state dict (our naming) is, from its steps' input channels."""
    head = denoiser.get("forward_cell.head.0.weight")
    found = [n for n, spec in PUBLISHED_NETWORKS.items() if head is not None and head.shape[1] == spec.step_inputs]
    if not found:
        known = ", ".join(f"{spec.official_class} {spec.step_inputs}" for spec in PUBLISHED_NETWORKS.values())
        got = "no forward_rnn.head.0.weight" if head is None else f"{head.shape[1]} input channels"
        raise StbnError(f"{source}: not a published STBN network ({got}; expected {known})")
    return found[0]


def load_published(
    path: str | Path, network: str | None = None, sigma: float | None = None
) -> tuple[ExperimentConfig, STBN]:
    """A published checkpoint as ``(config, model with its weights)``: the network is recognised from the
    file (``network``, if given, must match), the PWC-Net weights are the file's own. Any file that is
    not exactly a published network (missing, foreign or extra tensors, wrong shapes) is a one-line
    :class:`StbnError` naming ``path``."""
    from stbn.models.registry import build_model

    denoiser, flow = load_official_checkpoint(path)
    found = recognise_network(denoiser, str(path))
    spec = PUBLISHED_NETWORKS[found]
    if network is not None and network != found:
        raise StbnError(f"{path}: holds the published {found} network ({spec.official_class}), not {network}")
    if not flow:
        raise StbnError(f"{path}: holds no PWC-Net weights (pwcnet.*): not a published {spec.official_class} file")
    cfg = published_config(found, sigma)
    net = build_model(cfg, flow_weights=False)
    state = {**denoiser, **{f"flow.net.{k}": v for k, v in from_port_state_dict(flow, str(path)).items()}}
    expected = net.state_dict()
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    wrong = [k for k in expected.keys() & state.keys() if state[k].shape != expected[k].shape]
    problems = [f"{len(missing)} missing tensor(s), e.g. {missing[0]}"] if missing else []
    problems += [f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[0]}"] if unexpected else []
    problems += [f"{k} is {tuple(state[k].shape)}, expected {tuple(expected[k].shape)}" for k in sorted(wrong)[:1]]
    if problems:
        network = f"the published {found} network ({spec.official_class})"
        raise StbnError(f"{path}: does not fit {network}: {'; '.join(problems)}")
    net.load_state_dict(state)
    return cfg, net
