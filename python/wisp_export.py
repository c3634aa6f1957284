#!/usr/bin/env python3
"""Compatibility shim: the code lives in the ``wisp`` package (``wisp/export.py``).

``import wisp_export`` (with this directory on ``sys.path``) and
``python3 python/wisp_export.py ARCH.json WEIGHTS.npz OUT [--dtype F32|F64]`` work as before,
without installing the package.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wisp.export import *  # noqa: E402,F401,F403
from wisp.export import ARCHITECTURE_KEY, main  # noqa: E402,F401

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
