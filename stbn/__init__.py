"""stbn: self-supervised video denoising with the Spatiotemporal Blind-Spot Network (AAAI 2025)."""

from typing import Any

__version__ = "0.1.0"
__all__ = ["STBN", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that light modules (stbn.config, used by the workflow) import without torch.
    if name == "STBN":
        from stbn.models import STBN

        return STBN
    raise AttributeError(f"module 'stbn' has no attribute {name!r}")
