"""Build a flow estimator from its configuration: ``kind`` plus a weights path and options."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal

from stbn.errors import StbnError
from stbn.models.flow.base import FlowEstimator, ZeroFlow
from stbn.models.flow.dis import DISFlow
from stbn.models.flow.pwcnet import PWCFlow

FlowKind = Literal["pwcnet", "dis", "none"]
ESTIMATORS: dict[str, type[FlowEstimator]] = {"pwcnet": PWCFlow, "dis": DISFlow, "none": ZeroFlow}


def build_flow(kind: FlowKind, weights: str | Path | None = None, **options: Any) -> FlowEstimator:
    """The estimator for ``kind``.

    ``"pwcnet"``: PWC-Net, weights from the local file ``weights`` (random init if None);
    ``"dis"``: OpenCV DIS, options ``preset`` and ``blur_sigma``; ``"none"``: zero flow.
    Raises :class:`StbnError` for an unknown kind, an unknown option, or weights given to an
    estimator that has none.
    """
    if kind not in ESTIMATORS:
        raise StbnError(f"flow.kind: unknown flow estimator {kind!r} (one of {', '.join(ESTIMATORS)})")
    cls = ESTIMATORS[kind]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "args", "kwargs"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        names = ", ".join(sorted(accepted - {"weights"})) or "none"
        raise StbnError(f"flow: option {unknown[0]!r} does not apply to {kind!r} (accepted: {names})")
    if kind == "pwcnet":
        return cls(weights=weights, **options)
    if weights is not None:
        raise StbnError(f"flow.weights: the {kind!r} estimator takes no weights (got {weights})")
    return cls(**options)
