"""Networks (STBN, UDVD) and what defines them: blocks, flow estimators, the registry of methods, the heads' losses
and posterior, the published checkpoints' key mapping."""

from stbn.models.network import STBN
from stbn.models.udvd import UDVD

__all__ = ["STBN", "UDVD"]
