"""`python -m bench SCENARIO [--quick] [--json FILE]`: run benchmarks and print their figures."""

from __future__ import annotations

import sys

from bench.run import main

if __name__ == "__main__":
    sys.exit(main())
