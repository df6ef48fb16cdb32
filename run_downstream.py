#!/usr/bin/env python3
"""s3prl's downstream runner with this project's upstreams, configs and presets.

    python run_downstream.py -m train -u fbank -d asr --preset mini -n fbank_asr
    python run_downstream.py -m evaluate -e result/downstream/fbank_asr/dev-clean-best.ckpt -t test-clean

All of s3prl's flags work as in s3prl; see upstream_distill/s3prl_bridge/run_downstream.py.
"""
from upstream_distill.s3prl_bridge.run_downstream import main

if __name__ == "__main__":
    main()
