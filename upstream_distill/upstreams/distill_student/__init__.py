"""s3prl upstream: distilled students (any method of this project) as SUPERB upstreams."""
