"""The side-by-side benchmark: ``python benchmarks/compare.py [MIX] [--markdown]``.

The code lives in :mod:`ocpp_fast.bench` so that ``ocpp-fast bench`` runs it too.
"""

import sys

from ocpp_fast.bench import main

if __name__ == "__main__":
    sys.exit(main())
