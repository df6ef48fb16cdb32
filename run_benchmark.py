#!/usr/bin/env python3
"""Score upstreams on the five SUPERB tasks; writes results/<preset>/scores.{csv,md,png}.

    python run_benchmark.py --preset mini -u fbank
"""
import sys

from upstream_distill.benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main())
