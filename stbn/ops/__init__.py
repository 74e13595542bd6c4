"""Pure tensor operations (no parameters)."""

from stbn.ops.shuffle import patch_shuffle, patch_unshuffle
from stbn.ops.warp import WarpMode, flow_warp

__all__ = ["WarpMode", "flow_warp", "patch_shuffle", "patch_unshuffle"]
