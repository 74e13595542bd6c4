"""Experiment configuration: the single, validated source of truth for model, flow, data and training.

Every section rejects unknown keys and out-of-range values. ``load_config`` reads a preset (a YAML file
shipped in ``stbn/presets/``, named without its suffix) or any YAML file, applies ``--set key.sub=value``
overrides and validates the result, turning any problem into one :class:`~stbn.errors.StbnError` line
naming the file or key. A preset or file gives only the keys it sets; the others take the defaults below.
The module imports neither torch nor the model, so the workflow can validate its experiment entries quickly.

Units: noise levels ``sigma`` are on the /255 scale here and on the command line (``30`` means ``30/255``;
in code such values are named ``sigma_255``); the frames, the model, the losses and the engine take them
on the [0, 1] scale (``sigma``). :func:`unit_sigma` is the one conversion.

The module is long (every section with its validation and field documentation) because it must load
without torch, for the workflow; splitting it by section would only scatter the cross-section checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stbn.errors import StbnError

CRVD_ISOS: tuple[int, ...] = (1600, 3200, 6400, 12800, 25600)


def unit_sigma(sigma_255: Any) -> Any:
    """A noise std on the /255 scale (a float, an array or a tensor) on the [0, 1] scale."""
    return sigma_255 / 255.0


class _Section(BaseModel):
    """A config section: unknown keys are errors, field docstrings are the documentation."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_assignment=True)


class ModelConfig(_Section):
    """Constructor arguments of :class:`stbn.models.network.STBN` (flow estimator excluded)."""

    in_channels: Literal[3, 4] = 3
    """3 for sRGB, 4 for packed RGGB raw."""
    num_channels: int = Field(64, ge=1, le=512)
    """State width of the recurrent step networks (paper: 64)."""
    num_resblocks: int = Field(5, ge=1, le=32)
    """Dilated residual blocks per step network and in the BSA fusion; the head has half (paper: 5)."""
    noise_map: bool | None = None
    """Feed the noise-level map to every step (None: yes for sRGB, no for raw)."""
    head: Literal["gaussian", "direct"] | None = None
    """Output head: mean + covariance factor (sRGB default) or a direct estimate (raw default)."""
    bsa_fusion: bool = True
    """Use the BSA fusion of new and aligned state (ablation switch)."""
    srfe: bool = True
    """Use SRFE to fuse the two directions (ablation switch)."""
    srfe_features: int | None = Field(None, ge=2, le=4096)
    """SRFE width (None: 4 * num_channels); must be even (grouped convolutions with 2 groups)."""
    srfe_groups: int = Field(2, ge=1, le=16)
    """SRFE residual groups (paper: 2)."""
    srfe_blocks: int = Field(8, ge=1, le=64)
    """Blocks per SRFE residual group (paper: 8)."""
    warp: Literal["nearest", "bilinear"] = "nearest"
    """Feature alignment: nearest (paper) or bilinear."""
    neighbour_frames: bool = False
    """Also feed the noisy frame each aligned state came from, warped the same way, into the BSA fusion
    (not in the paper; docs/fitting.md): the pixels of neighbouring frames on the output's blind lattice,
    the co-located one included, then reach the output directly."""

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.srfe_features is not None and self.srfe_features % 2:
            raise ValueError(f"model.srfe_features must be even, got {self.srfe_features}")
        if self.neighbour_frames and not self.bsa_fusion:
            raise ValueError("model.neighbour_frames feeds the BSA fusion: it needs model.bsa_fusion true")
        return self

    @property
    def resolved_head(self) -> Literal["gaussian", "direct"]:
        """The head actually built (``head`` or the default for ``in_channels``)."""
        return self.head or ("gaussian" if self.in_channels == 3 else "direct")

    @property
    def resolved_noise_map(self) -> bool:
        """Whether the built model takes a noise map."""
        return self.in_channels == 3 if self.noise_map is None else self.noise_map


class UDVDConfig(_Section):
    """Constructor arguments of :class:`stbn.models.udvd.UDVD` (``method: udvd``; UDVD_SPEC.md); the input
    channels follow ``data.kind``."""

    width: int = Field(48, ge=1, le=512)
    """Base width of both blind U-Nets; their wide layers have twice as many channels (published: 48)."""
    triplet_features: int = Field(32, ge=1, le=512)
    """Channels of each three-frame encoding (published: 32)."""
    head: Literal["gaussian", "direct"] | None = None
    """Output head: mean + covariance factor (sRGB default) or a direct estimate (raw default)."""
    square_pad: Literal["zeros", "reflect"] = "zeros"
    """Padding of non-square frames to the square the rotations need: zeros (blind) or reflect (the
    published code, which leaks the centre pixel on non-square frames: only to match its checkpoints)."""

class DistillConfig(_Section):
    """Flow refinement in noise (STBN_SPEC.md section 5.3; ``docs/flow.md``)."""

    enabled: bool = False
    """Refine the flow: pwcnet is distilled from a frozen teacher run on the denoised mean (the paper);
    dis re-estimates the flow on the denoised mean of a first pass, in training and at inference."""
    lam: float = Field(5e-4, ge=0.0, le=10.0)
    """Overall weight of the flow loss (pwcnet only)."""
    reg: float = Field(4e-4, ge=0.0, le=1.0)
    """Weight of the sum of parameter norms inside the flow loss (pwcnet only)."""
    start_step: int = Field(1000, ge=0)
    """First training step with the flow loss, or with re-estimated flows (the paper's 1000-iteration delay)."""
    lr: float = Field(1e-5, gt=0.0, le=1.0)
    """Learning rate of the flow estimator's parameter group (pwcnet only)."""


FlowRefinement = Literal["off", "distill", "reestimate"]


class FlowConfig(_Section):
    """Optical-flow estimator used to align the recurrent states."""

    estimator: Literal["pwcnet", "dis", "none"] = "none"
    """pwcnet (pure PyTorch, local weights), dis (OpenCV) or none (zero flow, no alignment)."""
    weights: str | None = None
    """Local PWC-Net weights file (None: random initialisation, for tests only)."""
    distill: DistillConfig = Field(default_factory=DistillConfig)
    """Flow distillation settings."""

    @model_validator(mode="after")
    def _check(self) -> FlowConfig:
        if self.distill.enabled and self.estimator == "none":
            raise ValueError(
                "flow.distill.enabled: estimator none has no flow to refine "
                "(use flow.estimator pwcnet to distill it or dis to re-estimate it)"
            )
        if self.weights is not None and self.estimator != "pwcnet":
            raise ValueError(f"flow.weights is only used by pwcnet, not {self.estimator!r}")
        return self

    @property
    def reestimates(self) -> bool:
        """Whether the flows are re-estimated on the pseudo-clean mean of a first pass (training from
        ``distill.start_step``, and every inference)."""
        return self.refinement == "reestimate"

    @property
    def refinement(self) -> FlowRefinement:
        """What ``distill.enabled`` does with this estimator: ``distill`` a trainable student (pwcnet),
        ``reestimate`` on the pseudo-clean mean of a first pass (dis), or ``off``."""
        if not self.distill.enabled:
            return "off"
        return "distill" if self.estimator == "pwcnet" else "reestimate"


class DataConfig(_Section):
    """Training data, clip sampling and on-the-fly noise."""

    kind: Literal["srgb", "raw"] = "srgb"
    """sRGB frames (AWGN) or packed RGGB raw (per-ISO Poisson-Gaussian noise)."""
    train_root: str | None = None
    """Folder of training sequences (one sub-folder per sequence); required by ``stbn train``."""
    val_root: str | None = None
    """Folder of validation sequences (None: no validation)."""
    clip_length: int = Field(8, ge=1, le=256)
    """Consecutive frames per training clip (T)."""
    temporal_stride: int = Field(3, ge=1, le=256)
    """Step between the start frames of consecutive clips of a sequence."""
    crop: int = Field(96, ge=8, le=4096)
    """Side of the random square crop shared by the frames of a clip; for raw in packed pixels, so every
    crop starts on an even Bayer offset (80 packed = the paper's 160x160 Bayer crop)."""
    batch_size: int = Field(4, ge=1, le=1024)
    """Clips per training step."""
    sigma: float | tuple[float, float] = 30.0
    """sRGB noise std on the /255 scale: a fixed value or a [lo, hi] range drawn per clip."""
    isos: list[int] = Field(default_factory=lambda: list(CRVD_ISOS))
    """Raw: ISOs whose calibrated noise is drawn per clip."""
    fixed_noisy: bool = False
    """Train on one fixed noisy realisation per sequence (train on the test video) instead of fresh noise."""
    augment: bool = False
    """Flip, transpose and reverse each training clip at random, flows moved with it (sRGB; the paper: none)."""
    max_frames: int | None = Field(None, ge=1)
    """Use at most this many frames of each sequence (None: all)."""
    sequences: list[str] | None = None
    """sRGB: train on only these sequence folders of ``train_root`` (None: all of them)."""
    val_sigma: float = Field(30.0, ge=0.0, le=255.0)
    """sRGB validation noise std (/255 scale)."""
    val_iso: int = 25600
    """Raw validation ISO."""
    val_max_frames: int = Field(85, ge=1)
    """Frames per validation sequence."""

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        lo, hi = self.sigma_range
        if not 0.0 <= lo <= hi <= 255.0:
            raise ValueError(f"data.sigma must lie in [0, 255] with lo <= hi, got {self.sigma}")
        if self.fixed_noisy and lo != hi and self.kind == "srgb":
            raise ValueError("data.fixed_noisy needs one fixed data.sigma, not a range")
        unknown = sorted(set(self.isos + [self.val_iso]) - set(CRVD_ISOS))
        if unknown:
            raise ValueError(f"data.isos / data.val_iso: no noise calibration for ISO {unknown} (known: {CRVD_ISOS})")
        if not self.isos:
            raise ValueError("data.isos must not be empty")
        if self.sequences is not None and (self.kind == "raw" or not self.sequences):
            raise ValueError("data.sequences names sRGB sequence folders of data.train_root: a non-empty list")
        if self.augment and self.kind == "raw":
            raise ValueError("data.augment is for sRGB clips: flipping packed Bayer planes would move the CFA phase")
        return self

    @property
    def sigma_range(self) -> tuple[float, float]:
        """``(lo, hi)`` on the /255 scale; ``lo == hi`` for a fixed sigma."""
        return (self.sigma, self.sigma) if isinstance(self.sigma, float | int) else tuple(self.sigma)


class TrainConfig(_Section):
    """Optimisation, checkpoints and reproducibility."""

    iterations: int = Field(80000, ge=1, le=10_000_000)
    """Optimiser steps."""
    lr: float = Field(3e-4, gt=0.0, le=1.0)
    """Adam learning rate of the denoiser."""
    milestones: list[int] = Field(default_factory=lambda: [16000, 32000, 48000, 64000])
    """Steps at which the learning rate is multiplied by ``gamma`` (MultiStepLR)."""
    gamma: float = Field(0.5, gt=0.0, le=1.0)
    """Learning-rate decay factor at each milestone."""
    grad_clip: float | None = Field(1.0, gt=0.0)
    """Maximum global gradient norm (None: no clipping)."""
    checkpoint_every: int = Field(1000, ge=1)
    """Steps between resumable checkpoints (``last.pt``)."""
    val_every: int = Field(0, ge=0)
    """Steps between validations (0: only at the end, if a validation set is given)."""
    seed: int = Field(0, ge=0, le=2**31 - 1)
    """Seed of model initialisation, clip sampling and noise."""
    threads: int = Field(0, ge=0, le=1024)
    """CPU threads for torch (0: torch's default)."""

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if any(b <= a for a, b in zip(self.milestones, self.milestones[1:])) or any(m < 1 for m in self.milestones):
            raise ValueError(f"train.milestones must be positive and strictly increasing, got {self.milestones}")
        return self


class SpeedConfig(_Section):
    """Speed switches of training and inference; ``precision: fp32, channels_last: false`` is the fp32 eager
    reference path, ``auto`` picks per machine."""

    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Autocast precision of the network. ``auto``: bf16 where the hardware runs it natively (CPUs with
    AVX512-BF16/AMX, CUDA capability 8.0+), else fp32 (``stbn.engine.speed.resolve``). fp16 on GPUs only; an
    explicit bf16 on hardware that emulates it warns once. Flows, likelihood and posterior stay in full
    precision."""
    channels_last: bool | Literal["auto"] = "auto"
    """NHWC memory format for weights and activations. ``auto``: on with bf16/fp16 (oneDNN's reduced-precision
    kernels want NHWC), off with fp32 (no gain on AVX512, slower on AVX2; docs/performance.md)."""
    compile: bool | Literal["auto"] = "auto"
    """``torch.compile`` (inductor) of the network for training steps (inference runs eager). ``auto``: on for
    training runs of at least 1000 steps or 5 minutes on a CPU whose vector code is AVX-512 and that has a C++
    compiler (inductor builds kernels with it), off elsewhere: inductor's AVX2 code (torch 2.13) gives
    non-finite outputs in the training graph, and CUDA was not measured. The first step compiles (about a minute on
    2 cores, seconds from the cache afterwards); docs/performance.md has the measured gains."""


class InferConfig(_Section):
    """How clips are denoised (:func:`stbn.engine.denoise`): whole clip at once (all states held) or streamed
    with bounded memory, tiled or not, with or without ensembles. Every combination runs."""

    streaming: bool = True
    """Stream frame by frame (exact; memory does not grow with the clip length); False holds every state."""
    spill: bool = True
    """Streaming: spill frames, flows and backward states to a temporary file; False keeps them in memory
    and recomputes backward states from checkpoints (no disk, one more backward pass)."""
    spill_dir: str | None = None
    """Folder of the temporary spill files (None: the system temp folder)."""
    segment: int = Field(0, ge=0, le=100_000)
    """Frames per streaming segment / checkpoint interval (0: 8 when spilling, else ceil(sqrt(T))); STBN only."""
    tile: int = Field(0, ge=0, le=100_000)
    """Tile side in pixels for frames too large for memory (0: whole frames); each tile is a run of its own
    over a window of the frames with the frame's flows, cropped. STBN only (UDVD holds one window at a time)."""
    tile_overlap: int = Field(128, ge=0, le=100_000)
    """Context in pixels around each tile (rounded up to a multiple of 4)."""
    time_window: int = Field(0, ge=0, le=100_000)
    """Frames per time window (0: the whole clip at once): the clip is denoised as windows of this many frames
    starting every ``window_stride`` frames (the last ends with the clip), and each frame's estimate is the
    mean over the windows that hold it. A recurrence fitted on short clips can drift over longer ones
    (``stbn denoise --fit-*`` trains on ``data.clip_length`` frames: docs/fitting.md). Costs the windows'
    frames over the clip's in inference (about 2x at a stride of half the window)."""
    window_stride: int = Field(0, ge=0, le=100_000)
    """Frames between the starts of consecutive time windows, at most ``time_window`` (0: half the window,
    rounded up)."""
    time_ensemble: bool = False
    """Also denoise the clip in reverse time order (STBN: the forward and backward cells swap roles; UDVD:
    each window is read backwards) and average the two estimates: twice the inference (docs/fitting.md)."""
    shift_ensemble: int = Field(1, ge=1, le=4)
    """k: also denoise the k*k - 1 windows ``[dy:, dx:]`` (dy, dx in 0..k-1, not both 0) of the clip, each
    with flows estimated on its own frames (STBN), and average each pixel's estimates over the windows that
    hold it: every pixel meets other phases of the 2x2 blind spot and of SRFE's 4x4 patches (UDVD: of its
    poolings and square padding). k*k times the
    inference; 1: off. Under ``stbn denoise --fit-minutes`` the most: halved while it would take more than
    a few percent of the budget (docs/fitting.md)."""

    @model_validator(mode="after")
    def _check(self) -> InferConfig:
        if self.window_stride > self.time_window:
            raise ValueError(
                f"infer.window_stride {self.window_stride} must be at most infer.time_window {self.time_window}"
                " (0: no time windows)"
            )
        return self


class ExperimentConfig(_Section):
    """One experiment: everything ``stbn train`` needs besides the output folder."""

    name: str = Field("experiment", pattern=r"^[A-Za-z0-9_.-]+$")
    """Experiment name (letters, digits, ``_.-``)."""
    method: Literal["stbn", "udvd"] = "stbn"
    """The denoising method: stbn (section ``model``) or udvd (section ``udvd``)."""
    model: ModelConfig = Field(default_factory=ModelConfig)
    """STBN network architecture."""
    udvd: UDVDConfig = Field(default_factory=UDVDConfig)
    """UDVD network architecture."""
    flow: FlowConfig = Field(default_factory=FlowConfig)
    """Optical flow."""
    data: DataConfig = Field(default_factory=DataConfig)
    """Training data and noise."""
    train: TrainConfig = Field(default_factory=TrainConfig)
    """Optimisation."""
    speed: SpeedConfig = Field(default_factory=SpeedConfig)
    """Precision and memory format of training and inference."""
    infer: InferConfig = Field(default_factory=InferConfig)
    """Inference layout: whole clip, streaming, tiling."""

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        expected = 3 if self.data.kind == "srgb" else 4
        if self.model.in_channels != expected:
            raise ValueError(f"model.in_channels must be {expected} for data.kind {self.data.kind!r}")
        if self.data.kind == "raw":
            if self.model.resolved_noise_map:
                raise ValueError("model.noise_map is not available for raw data (no sigma)")
            if self.model.resolved_head == "gaussian":
                raise ValueError("model.head gaussian needs a known sigma: use head direct for raw data")
        if self.method == "udvd":
            if self.flow.estimator != "none":
                raise ValueError("flow.estimator: udvd aligns no frames, use none")
            if self.data.kind == "raw" and self.udvd.head == "gaussian":
                raise ValueError("udvd.head gaussian needs a known sigma: use head direct for raw data")
            if self.infer.tile:
                raise ValueError(
                    "infer.tile: udvd holds one five-frame window at a time and needs no tiles (a tile would "
                    "need ~145 px of context above and below), use 0"
                )
            if self.infer.segment:
                raise ValueError("infer.segment: udvd streams in one pass with no recurrent segments, use 0")
        return self


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


PRESETS_DIR = Path(__file__).with_name("presets")
"""The named presets: ``<name>.yaml`` files shipped with the package, each the keys its recipe sets."""
PRESET_NAMES: tuple[str, ...] = tuple(sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")))
"""``cpu-fit`` (``stbn denoise --fit-minutes`` on a CPU, docs/fitting.md), ``default-raw``,
``default-srgb`` (CPU scale), ``paper-raw``, ``paper-srgb`` (the paper's recipes), ``tiny`` (tests)."""


def _names_a_preset(source: str | Path) -> bool:
    """Whether ``source`` names a preset rather than a file (see :func:`config_file`)."""
    return not isinstance(source, Path) and "/" not in source and Path(source).suffix not in (".yaml", ".yml")


def config_file(source: str | Path) -> Path:
    """The YAML file of a config ``source``: a preset name (``tiny``: no ``/``, no ``.yaml``/``.yml``
    suffix) is the packaged preset file, anything else (and any :class:`~pathlib.Path`) a file path."""
    if not _names_a_preset(source):
        return Path(source)
    if source not in PRESET_NAMES:
        raise StbnError(f"unknown preset {source!r} (known: {', '.join(PRESET_NAMES)}; or give a YAML file's path)")
    return PRESETS_DIR / f"{source}.yaml"


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise StbnError(f"{path}: config file not found")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise StbnError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(loaded, dict):
        raise StbnError(f"{path}: expected a mapping of sections at the top level")
    return loaded


def preset(name: str) -> ExperimentConfig:
    """The validated preset ``name`` (one of :data:`PRESET_NAMES`)."""
    if not _names_a_preset(name):
        raise StbnError(f"{name!r} is a file path, not a preset name (known: {', '.join(PRESET_NAMES)})")
    return load_config(name)


def _parse_value(text: str) -> Any:
    value = yaml.safe_load(text) if text.strip() else None
    if isinstance(value, str):
        try:  # YAML 1.1 reads "1e-4" as a string
            return float(value)
        except ValueError:
            return value
    return value


def parse_overrides(overrides: list[str] | None) -> dict[str, Any]:
    """``["train.lr=1e-4", "data.sigma=[5, 55]"]`` -> nested dict; values are parsed as YAML."""
    nested: dict[str, Any] = {}
    for item in overrides or []:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(parts):
            raise StbnError(f"--set {item!r}: expected key.sub=value")
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise StbnError(f"--set {item!r}: {part!r} is set both as a value and as a section")
        node[parts[-1]] = _parse_value(text)
    return nested


def _format_error(source: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"].removeprefix("Value error, ")
        parts.append(msg if not loc or msg.startswith(loc) else f"{loc}: {msg}")
    return f"{source}: " + "; ".join(parts)


def validate_config(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a plain dict (e.g. a parsed YAML or a checkpoint's saved config) into a config."""
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise StbnError(_format_error(source, err)) from None


def load_config(source: str | Path | None = None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Load and validate an experiment config.

    ``source`` is a preset name or a YAML file's path (see :func:`config_file`; None: the defaults);
    ``overrides`` are ``key.sub=value`` strings applied on top and validated like the file. Errors name
    the source: ``preset NAME``, the file's path or ``defaults``.
    """
    data: dict[str, Any] = {}
    label = "defaults"
    if source is not None:
        path = config_file(source)
        data = _read_yaml(path)
        label = f"preset {source}" if _names_a_preset(source) else str(path)
    if overrides:
        data, label = _deep_merge(data, parse_overrides(overrides)), f"{label} with --set {' '.join(overrides)}"
    return validate_config(data, label)


def apply_overrides(cfg: ExperimentConfig, overrides: list[str], source: str = "config") -> ExperimentConfig:
    """``cfg`` with ``key.sub=value`` overrides applied and validated again."""
    merged = _deep_merge(cfg.model_dump(mode="json"), parse_overrides(overrides))
    return validate_config(merged, f"{source} with --set {' '.join(overrides)}")
