"""Neural network modules."""

from stbn.models.network import STBN
from stbn.models.udvd import UDVD

__all__ = ["STBN", "UDVD"]
