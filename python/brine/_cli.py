"""The `brine` console script and `python -m brine`: exec the bundled command-line tool."""

from __future__ import annotations

import os
import sys

from ._lib import cli_path


def main() -> None:
    tool = cli_path()
    if not os.access(tool, os.X_OK):
        sys.stderr.write(f"brine: the bundled tool {tool} is missing or not executable\n")
        sys.exit(2)
    os.execv(tool, [tool, *sys.argv[1:]])
