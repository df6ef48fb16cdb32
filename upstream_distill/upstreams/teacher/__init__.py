"""s3prl upstream: teacher checkpoints (fairseq, HF, save_teacher) as SUPERB upstreams."""
