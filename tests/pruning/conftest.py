"""Pruning starts from the teachers tests/models writes as real Hugging Face and fairseq files."""
from ..models.conftest import fairseq_references, hf_models, hf_references  # noqa: F401  (fixtures)
