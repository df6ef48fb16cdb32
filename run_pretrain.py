#!/usr/bin/env python3
"""Pretrain or distil an upstream with the project's shared runner, s3prl style.

    python run_pretrain.py -u hubert_teacher --preset mini -n tiny_hubert
    python run_pretrain.py -u hubert_teacher --preset tiny -p /tmp/smoke -o config.runner.total_steps=20

`-u` picks pretrain/<name>/; re-running a command resumes its folder. See
upstream_distill/commands/pretrain.py for every flag.
"""
import sys

from upstream_distill.commands.pretrain import main

if __name__ == "__main__":
    sys.exit(main())
