"""Built-in CPU tuning templates; importing this package registers them.

=======================  ============================================  ==================
name                     arguments                                     module
=======================  ============================================  ==================
``dense``                M, N, K, dtype                                :mod:`.dense`
``matmul``               M, N, K, dtype                                :mod:`.dense`
``batch_matmul``         batch, M, N, K, dtype                         :mod:`.batch_matmul`
``conv2d_nchw``          N, CI, H, W, CO, KH, KW, stride, pad, dil, dt :mod:`.conv2d`
``conv2d_nhwc``          N, H, W, CI, CO, KH, KW, stride, pad, dil, dt :mod:`.conv2d`
``depthwise_conv2d_nchw`` N, C, H, W, KH, KW, stride, pad, dil, dtype  :mod:`.depthwise`
``depthwise_conv2d_nhwc`` N, H, W, C, KH, KW, stride, pad, dil, dtype  :mod:`.depthwise`
=======================  ============================================  ==================

See ``docs/templates.md`` for the knobs of each.  Importing the modules declares the
templates in :data:`BUILTINS`; the task registry registers them on its first lookup.
"""
from . import batch_matmul, conv2d, dense, depthwise  # noqa: F401  (imported to declare)
from .builtins import BUILTINS

__all__ = ["dense", "batch_matmul", "conv2d", "depthwise", "BUILTINS"]
