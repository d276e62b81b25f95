"""brine: read machine-learning model files without executing them.

    >>> import brine
    >>> brine.scan("samples/seed_exploit.pkl").verdict
    'unsafe'

scan / scan_tree judge files (verdict safe / unverified / invalid / unsafe, with findings);
safe_open, load_state_dict, inspect, diff and convert load what passes, rebuilt by brine's
own code: nothing a file names is ever imported or called. The binding is ctypes over the C
library's public header (include/brine.h); `python -m brine` runs the bundled `brine` tool.
"""

from ._errors import (BrineError, BrineIOError, BrineMemoryError, LimitError, MalformedError,
                      PolicyError, UnsupportedError, UsageError)
from ._lib import LIMIT_NAMES
from ._model import convert, diff, inspect, load_state_dict, safe_open
from ._scan import Finding, ScanResult, TensorSpec, scan, scan_tree

__version__ = "0.1.0"

__all__ = [
    "BrineError", "BrineIOError", "BrineMemoryError", "LimitError", "MalformedError",
    "PolicyError", "UnsupportedError", "UsageError", "LIMIT_NAMES", "Finding", "ScanResult",
    "TensorSpec", "convert", "diff", "inspect", "load_state_dict", "safe_open", "scan",
    "scan_tree",
]
