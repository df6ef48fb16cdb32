"""torchaudio's wav2vec 2.0 building blocks, importable on every install.

The CPU machines of this project carry a torchaudio wheel whose compiled
extension cannot load; its pure-Python model code is fine.
:func:`~upstream_distill.core.torchaudio_import.require_torchaudio` imports
torchaudio there without the extension (and patches nothing), so it must run
before the first torchaudio import.  Every module of
``upstream_distill.models`` takes torchaudio's components from here.
"""
from upstream_distill.core.torchaudio_import import require_torchaudio

require_torchaudio()

from torchaudio.models.wav2vec2 import components  # noqa: E402
from torchaudio.models.wav2vec2.utils import import_fairseq as _ta_import_fairseq  # noqa: E402
from torchaudio.models.wav2vec2.utils import import_huggingface as _ta_import_huggingface  # noqa: E402
from torchaudio.models.wav2vec2.wavlm_attention import WavLMSelfAttention  # noqa: E402

#: torchaudio's fairseq key mapper: fairseq name -> torchaudio name, None for
#: keys it drops (mask_emb, quantizer, project_q, final_proj); raises ValueError
#: on keys it does not know (WavLM's relative-position keys among them).
map_fairseq_key = _ta_import_fairseq._map_key

_TRANSFORMER = "encoder.transformer."


def merge_wavlm_projections(state: dict, num_layers: int) -> dict:
    """Separate q/k/v/out projections -> torchaudio's WavLM attention layout.

    fairseq and HF store ``...layers.N.attention.{q,k,v,out}_proj.*``;
    torchaudio's ``WavLMSelfAttention`` holds an ``nn.MultiheadAttention``
    (``attention.in_proj_*``, ``attention.out_proj.*``).  torchaudio's HF
    importer has the merge (``transform_wavlm_encoder_state``); it expects keys
    relative to the transformer, so we strip and restore the
    ``encoder.transformer.`` prefix of TeacherModel around it.  Raises
    ValueError naming a projection the state lacks.
    """
    transformer = {k[len(_TRANSFORMER):]: v for k, v in state.items() if k.startswith(_TRANSFORMER)}
    try:
        _ta_import_huggingface.transform_wavlm_encoder_state(transformer, num_layers)
    except KeyError as err:  # e.g. "layers.3.attention.v_proj.weight"
        raise ValueError(f"the checkpoint lacks the WavLM attention weight {err.args[0]} "
                         f"(of the transformer layers, torchaudio naming)") from None
    merged = {k: v for k, v in state.items() if not k.startswith(_TRANSFORMER)}
    merged.update({_TRANSFORMER + k: v for k, v in transformer.items()})
    return merged


__all__ = ["components", "WavLMSelfAttention", "map_fairseq_key", "merge_wavlm_projections"]
