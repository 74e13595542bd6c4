"""Neural network modules."""

from stbn.models.network import STBN

__all__ = ["STBN"]
