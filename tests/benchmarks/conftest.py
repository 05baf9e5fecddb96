"""The benchmarks run from the checkout, not an installed package: their tests import them
(``benchmarks.peers``, ``benchmarks.spaces.tasks``) from there."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
