"""s3prl upstream ``tiny_hubert``: the project's own small HuBERT teacher, shipped with the code."""
