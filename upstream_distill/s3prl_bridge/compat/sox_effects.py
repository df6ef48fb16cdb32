"""A ``torchaudio.sox_effects`` stand-in (removed in torchaudio 2.9) for the effects s3prl uses.

s3prl's Speech Commands dataset calls ``apply_effects_file(path, [["channels", "1"],
["rate", "16000"], ["gain", "-3.0"]])``; this module supports channels, rate,
gain and norm, and names any other effect it is asked for.
"""
from __future__ import annotations

import sys
import types

import torch

from upstream_distill.core.torchaudio_import import import_torchaudio

from .audio_io import load

__all__ = ["apply_effects_file", "apply_effects_tensor", "install_sox_effects"]


def install_sox_effects(torchaudio) -> None:
    """Expose a ``torchaudio.sox_effects`` module (attribute and sys.modules)."""
    module = types.ModuleType(
        "torchaudio.sox_effects",
        "Stand-in for torchaudio.sox_effects (removed in torchaudio 2.9) supporting the "
        "effects s3prl uses: channels, rate, gain, norm. "
        "See upstream_distill.s3prl_bridge.compat.sox_effects.")
    module.apply_effects_tensor = apply_effects_tensor
    module.apply_effects_file = apply_effects_file
    module.effect_names = lambda: sorted(_EFFECTS)
    module.init_sox_effects = module.shutdown_sox_effects = lambda: None
    module._UPSTREAM_DISTILL_STAND_IN = True
    module.__all__ = ["apply_effects_file", "apply_effects_tensor", "effect_names"]
    sys.modules["torchaudio.sox_effects"] = module
    torchaudio.sox_effects = module


def _number(text: str, effect) -> float:
    try:
        text = str(text)
        return float(text[:-1]) * 1000 if text.endswith(("k", "K")) else float(text)
    except ValueError:
        raise NotImplementedError(
            f"sox effect {list(effect)!r}: only a plain numeric argument is supported") from None


def _channels(wav, sr, args, effect):
    """``channels N``: mono by averaging all channels, or mono copied to N."""
    if len(args) != 1:
        raise NotImplementedError(f"sox effect {list(effect)!r}: expected `channels N`")
    n = int(_number(args[0], effect))
    if n == wav.shape[0]:
        return wav, sr
    if n == 1:
        return wav.mean(dim=0, keepdim=True), sr
    if wav.shape[0] == 1:
        return wav.expand(n, -1).clone(), sr
    raise NotImplementedError(f"sox effect {list(effect)!r}: cannot map {wav.shape[0]} channels to {n}")


def _rate(wav, sr, args, effect):
    """``rate [quality flags] R``: band-limited resampling to R Hz.

    Uses torchaudio.functional.resample (not sox's resampler, so samples
    differ slightly); the length is sox's, round(n * R / sr), so
    downstream frame counts match what the sox effect produced.  Quality
    flags such as ``-v`` are accepted and ignored.
    """
    values = [a for a in args if not str(a).startswith("-")]
    if len(values) != 1:
        raise NotImplementedError(f"sox effect {list(effect)!r}: expected `rate [-flags] R`")
    new_sr = int(round(_number(values[0], effect)))
    if new_sr == sr:
        return wav, sr
    torchaudio, _ = import_torchaudio()  # with the extension stand-in if needed
    if torchaudio is None:
        raise ImportError("the sox `rate` effect stand-in needs torchaudio (for resample)")
    out = torchaudio.functional.resample(wav, int(sr), new_sr)
    length = (wav.shape[-1] * new_sr + int(sr) // 2) // int(sr)
    return out[..., :length], new_sr


def _gain(wav, sr, args, effect):
    """``gain [dB]``: multiply by 10^(dB/20) (sox's option flags unsupported)."""
    if len(args) > 1:
        raise NotImplementedError(f"sox effect {list(effect)!r}: only `gain dB` is supported")
    db = _number(args[0], effect) if args else 0.0
    return wav * (10.0 ** (db / 20.0)), sr


def _norm(wav, sr, args, effect):
    """``norm [dB]``: scale so the peak is at dB full scale (default 0 dB)."""
    if len(args) > 1:
        raise NotImplementedError(f"sox effect {list(effect)!r}: only `norm [dB]` is supported")
    db = _number(args[0], effect) if args else 0.0
    peak = wav.abs().max()
    if peak == 0:
        return wav, sr
    return wav * (10.0 ** (db / 20.0) / peak), sr


_EFFECTS = {"channels": _channels, "rate": _rate, "gain": _gain, "norm": _norm}


def apply_effects_tensor(tensor: torch.Tensor, sample_rate: int, effects,
                         channels_first: bool = True):
    """Apply a sox-style effect chain to a waveform; returns ``(tensor, rate)``.

    ``effects`` is a list like ``[["channels", "1"], ["rate", "16000"],
    ["gain", "-3.0"]]`` applied in order.  Supported: channels, rate, gain,
    norm; anything else raises NotImplementedError naming the effect.
    """
    wav = tensor if channels_first else tensor.transpose(0, 1)
    if wav.dim() != 2:
        raise ValueError(f"expected a 2-D waveform, got shape {tuple(tensor.shape)}")
    if not wav.is_floating_point():
        wav = wav.to(torch.float32)
    sr = int(sample_rate)
    for effect in effects:
        effect = [str(part) for part in effect]
        handler = _EFFECTS.get(effect[0] if effect else None)
        if handler is None:
            raise NotImplementedError(
                f"sox effect {effect!r} is not supported by the soundfile-based "
                f"torchaudio.sox_effects stand-in (supported: {', '.join(sorted(_EFFECTS))})")
        wav, sr = handler(wav, sr, effect[1:], effect)
    if not channels_first:
        wav = wav.transpose(0, 1)
    return wav.contiguous(), sr


def apply_effects_file(path, effects, normalize: bool = True, channels_first: bool = True,
                       format: str | None = None):
    """Read ``path`` with :func:`load` and apply :func:`apply_effects_tensor`.

    Always returns float32 samples; ``normalize`` and ``format`` are accepted
    for signature compatibility.
    """
    wav, sr = load(path)
    return apply_effects_tensor(wav, sr, effects, channels_first=channels_first)
