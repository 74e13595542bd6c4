"""Pure tensor operations (no parameters)."""

from stbn.ops.causal import SquarePad, pad_to_square, rotate, shift_down, square_offset
from stbn.ops.shuffle import patch_shuffle, patch_unshuffle
from stbn.ops.warp import WarpMode, flow_warp

__all__ = [
    "SquarePad",
    "WarpMode",
    "flow_warp",
    "pad_to_square",
    "patch_shuffle",
    "patch_unshuffle",
    "rotate",
    "shift_down",
    "square_offset",
]
