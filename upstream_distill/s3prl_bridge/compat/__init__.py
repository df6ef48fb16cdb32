"""Run s3prl's unmodified SUPERB code on modern torch/torchaudio installs.

s3prl was written against torchaudio <= 2.8 and torch < 2.6.  On a current
install several things it relies on are gone or broken; one module per
mechanism fills each gap:

* :mod:`~upstream_distill.core.torchaudio_import` (the ground floor, shared
  with the models): ``import torchaudio`` without its compiled extension
  when only that fails to load;
* :mod:`.audio_io`: ``torchaudio.load``/``info``/``save`` through soundfile
  (torchaudio >= 2.9 needs torchcodec for them), and ``set_audio_backend``;
* :mod:`.sox_effects`: a ``torchaudio.sox_effects`` stand-in (removed in 2.9);
* :mod:`.torch_load`: s3prl checkpoints pickle an ``argparse.Namespace``,
  which torch >= 2.6's ``weights_only`` loading refuses;
* :mod:`.cpu_rnn`: s3prl's ASR BiLSTM on CPU through torch's native kernels.

:func:`apply` installs each shim only when the real thing is missing or
demonstrably broken, so a working (e.g. CUDA) install is left untouched.  It
patches process-wide state, so only :func:`upstream_distill.s3prl_bridge.prepare_s3prl`
calls it, right before s3prl is imported; importing the models patches nothing.
Nothing here imports s3prl.
"""
from __future__ import annotations

import importlib

from upstream_distill.core.torchaudio_import import import_torchaudio

from .audio_io import (
    AudioMetaData,
    AudioReadError,
    info,
    info_works,
    load,
    load_works,
    save,
    save_works,
    set_audio_backend,
)
from .cpu_rnn import route_cpu_rnns_to_native_kernels
from .sox_effects import apply_effects_file, apply_effects_tensor, install_sox_effects
from .torch_load import allow_namespace_in_torch_load

__all__ = [
    "AudioMetaData",
    "AudioReadError",
    "apply",
    "apply_effects_file",
    "apply_effects_tensor",
    "info",
    "load",
    "save",
]

_RESULT: dict | None = None  # what the first successful apply() did


def apply() -> dict:
    """Install the compatibility shims that this environment needs.

    Idempotent: the first call patches, later calls only return the same
    report.  Returns ``{shim name: True if it was installed}`` for the keys
    ``torch_load_namespace``, ``cpu_rnn_native``, ``torchaudio_extension``, ``torchaudio_load``,
    ``torchaudio_info``, ``torchaudio_save``, ``sox_effects`` and
    ``set_audio_backend``.  If torchaudio is not installed at all, the
    torchaudio keys are False.
    """
    global _RESULT
    if _RESULT is not None:
        return dict(_RESULT)
    result = {"torch_load_namespace": allow_namespace_in_torch_load(),
              "cpu_rnn_native": route_cpu_rnns_to_native_kernels()}
    torchaudio, stubbed = import_torchaudio()
    result["torchaudio_extension"] = stubbed
    for key in ("torchaudio_load", "torchaudio_info", "torchaudio_save",
                "sox_effects", "set_audio_backend"):
        result[key] = False
    if torchaudio is not None:
        if not load_works(torchaudio):
            torchaudio.load = load
            result["torchaudio_load"] = True
        if not info_works(torchaudio):
            torchaudio.info = info
            result["torchaudio_info"] = True
        if not save_works(torchaudio):
            torchaudio.save = save
            result["torchaudio_save"] = True
        if stubbed or not _module_importable("torchaudio.sox_effects"):
            install_sox_effects(torchaudio)
            result["sox_effects"] = True
        if not callable(getattr(torchaudio, "set_audio_backend", None)):
            torchaudio.set_audio_backend = set_audio_backend
            result["set_audio_backend"] = True
    _RESULT = result
    return dict(result)


def _module_importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - any failure means "needs the shim"
        return False
