"""The upstreams load the teachers that tests/models builds: its reference checkpoints are shared."""
from ..models.conftest import fairseq_references, hf_models, hf_references  # noqa: F401  (fixtures)
