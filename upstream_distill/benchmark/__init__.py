"""Run upstreams through the SUPERB tasks of the s3prl harness and write score tables."""
