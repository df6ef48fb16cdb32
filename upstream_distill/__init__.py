"""upstream_distill: distil self-supervised speech models into small s3prl upstreams."""

__version__ = "0.1.0"
