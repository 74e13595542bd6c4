"""stbn: self-supervised video denoising with the Spatiotemporal Blind-Spot Network (AAAI 2025)."""

from stbn.models import STBN

__version__ = "0.1.0"
__all__ = ["STBN", "__version__"]
