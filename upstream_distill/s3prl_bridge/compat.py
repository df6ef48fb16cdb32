"""Run s3prl's unmodified SUPERB code on modern torch/torchaudio installs.

s3prl was written against torchaudio <= 2.8 and torch < 2.6.  On a current
install several things it relies on are gone or broken:

* the CPU machines of this project carry a *CUDA* build of torchaudio 2.11
  (the only one on PyPI) beside a CPU torch, so ``import torchaudio`` dies
  while loading the compiled extension, although everything s3prl needs
  from torchaudio (Kaldi fbank, resampling, MFCC, the wav2vec2/HuBERT
  models) is pure Python;
* since torchaudio 2.9 ``torchaudio.load``/``save`` go through torchcodec
  (absent or unloadable here) and ``torchaudio.info``,
  ``torchaudio.sox_effects`` and ``torchaudio.set_audio_backend`` are gone;
* since torch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
  refuses the ``argparse.Namespace`` pickled into every s3prl checkpoint.

:func:`apply` installs one small shim per problem, each only when the real
thing is missing or demonstrably broken, so a working (e.g. CUDA) install is
left untouched.  Audio I/O falls back to ``soundfile`` (libsndfile: WAV,
FLAC, OGG, MP3).  This module never imports s3prl, so it can run before the
first s3prl import.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import sys
import tempfile
import types
import warnings
from dataclasses import dataclass

import numpy as np
import soundfile
import torch

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


class AudioReadError(RuntimeError, ValueError):
    """An audio file could not be read; the message names the file and why.

    Subclasses both ``RuntimeError`` (what torchaudio raises on decode
    failures) and ``ValueError`` so either kind of handler catches it.
    """


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
    result = {"torch_load_namespace": _allow_namespace_in_torch_load(),
              "cpu_rnn_native": _route_cpu_rnns_to_native_kernels()}
    torchaudio, stubbed = _import_torchaudio()
    result["torchaudio_extension"] = stubbed
    for key in ("torchaudio_load", "torchaudio_info", "torchaudio_save",
                "sox_effects", "set_audio_backend"):
        result[key] = False
    if torchaudio is not None:
        if not _load_works(torchaudio):
            torchaudio.load = load
            result["torchaudio_load"] = True
        if not _info_works(torchaudio):
            torchaudio.info = info
            result["torchaudio_info"] = True
        if not _save_works(torchaudio):
            torchaudio.save = save
            result["torchaudio_save"] = True
        if stubbed or not _module_importable("torchaudio.sox_effects"):
            _install_sox_effects(torchaudio)
            result["sox_effects"] = True
        if not callable(getattr(torchaudio, "set_audio_backend", None)):
            torchaudio.set_audio_backend = _set_audio_backend
            result["set_audio_backend"] = True
    _RESULT = result
    return dict(result)


# --------------------------------------------------------------------------
# CPU recurrent layers


def _route_cpu_rnns_to_native_kernels() -> bool:
    """Run CPU LSTM/GRU/RNN forwards with oneDNN (mkldnn) disabled.

    torch's oneDNN RNN path builds new primitives for every input shape. s3prl's ASR
    downstream feeds a BiLSTM with variable-length batches, and on this project's CPU
    machines (torch 2.13) one training step then took ~8 s and the process grew past
    24 GB until it was killed; with the native kernels the same step takes ~1 s in
    0.7 GB. Only RNN forwards on CPU tensors are affected (convolutions keep oneDNN,
    which is ~30% faster for the waveform CNNs); CUDA runs are untouched.
    """
    import torch.nn as nn

    patched = False
    for cls in (nn.LSTM, nn.GRU, nn.RNN):
        forward = cls.forward
        if getattr(forward, "_native_on_cpu", False):
            continue

        def native_forward(self, input, *args, _forward=forward, **kwargs):
            data = input.data if isinstance(input, nn.utils.rnn.PackedSequence) else input
            if data.device.type != "cpu":
                return _forward(self, input, *args, **kwargs)
            with torch.backends.mkldnn.flags(enabled=False):
                return _forward(self, input, *args, **kwargs)

        native_forward._native_on_cpu = True
        cls.forward = native_forward
        patched = True
    return patched


# --------------------------------------------------------------------------
# torch.load and argparse.Namespace


def _allow_namespace_in_torch_load() -> bool:
    """Let ``weights_only`` unpickling accept ``argparse.Namespace``.

    Safer than disabling ``weights_only`` globally: only this one harmless
    class (s3prl's checkpoints store the run's arguments as a Namespace) is
    added to the allow-list.  No-op on torch < 2.4, where the allow-list
    does not exist (and weights_only is not the default anyway).
    """
    add_safe_globals = getattr(torch.serialization, "add_safe_globals", None)
    if add_safe_globals is None:
        return False
    get_safe_globals = getattr(torch.serialization, "get_safe_globals", None)
    if get_safe_globals is not None and argparse.Namespace in get_safe_globals():
        return False
    add_safe_globals([argparse.Namespace])
    return True


# --------------------------------------------------------------------------
# torchaudio without its compiled extension


def _import_torchaudio():
    """Import torchaudio, standing in for its extension if only that fails.

    Returns ``(module or None, stub_was_needed)``.  ``torchaudio/__init__``
    first imports ``torchaudio._extension``, which ``torch.ops.load_library``s
    ``lib/_torchaudio*.so``; with a CUDA wheel on a CPU torch that raises
    OSError and the whole package import fails.  Everything else in
    torchaudio only reads a few names from ``torchaudio._extension``, so we
    pre-register a stand-in module under that name (see
    :func:`_extension_stand_in`) and import again.  Any other import error
    is re-raised unchanged: it is not ours to hide.
    """
    if "torchaudio" in sys.modules:
        return sys.modules["torchaudio"], _is_stand_in(sys.modules.get("torchaudio._extension"))
    if importlib.util.find_spec("torchaudio") is None:
        return None, False
    try:
        import torchaudio

        return torchaudio, False
    except Exception as err:  # noqa: BLE001 - filtered just below
        if not _raised_in_extension(err):
            raise
        original = err
    _forget_modules("torchaudio")
    sys.modules["torchaudio._extension"] = _extension_stand_in(original)
    try:
        import torchaudio
    except Exception as err:
        _forget_modules("torchaudio")
        raise ImportError(
            "torchaudio failed to import even without its compiled extension "
            f"(the extension itself failed with: {original!r})"
        ) from err
    return torchaudio, True


def _raised_in_extension(err: BaseException) -> bool:
    """True if the error (or its cause) was raised under torchaudio/_extension/."""
    marker = os.path.join("torchaudio", "_extension") + os.sep
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        tb = err.__traceback__
        while tb is not None:
            if marker in tb.tb_frame.f_code.co_filename:
                return True
            tb = tb.tb_next
        err = err.__cause__ or err.__context__
    return False


def _forget_modules(package: str) -> None:
    """Drop a half-imported package and its submodules from sys.modules."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")]:
        del sys.modules[name]


def _is_stand_in(module) -> bool:
    return bool(getattr(module, "_UPSTREAM_DISTILL_STAND_IN", False))


def _extension_stand_in(load_error: BaseException) -> types.ModuleType:
    """Build the ``torchaudio._extension`` replacement.

    Exposes what torchaudio's Python code reads from the real module:
    ``_IS_TORCHAUDIO_EXT_AVAILABLE`` (functional/filtering.py picks its
    pure-Python lfilter on False), ``_IS_ALIGN_AVAILABLE`` and the decorator
    ``fail_if_no_align`` (functional/_alignment.py), ``_load_lib`` (called
    by models/decoder/_cuda_ctc_decoder.py at import; here it reports "not
    loaded") and ``_check_cuda_version``.  ``__path__`` points at the real
    package folder so its pure-Python submodule ``utils`` still imports.
    """
    name = "torchaudio._extension"
    spec = importlib.util.find_spec("torchaudio")
    real_dir = os.path.join(list(spec.submodule_search_locations)[0], "_extension")
    module = types.ModuleType(name, "Stand-in for torchaudio's compiled extension, "
                              "which failed to load; see upstream_distill.s3prl_bridge.compat.")
    module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
    module.__spec__.submodule_search_locations = [real_dir]
    module.__path__ = [real_dir]
    module.__package__ = name
    module._UPSTREAM_DISTILL_STAND_IN = True
    module._LOAD_ERROR = load_error  # kept for diagnostics
    module._IS_TORCHAUDIO_EXT_AVAILABLE = False
    module._IS_ALIGN_AVAILABLE = False
    message = (f"this needs torchaudio's compiled extension, which failed to load "
               f"({load_error}); install a torchaudio build matching your torch")

    def fail_if_no_align(func):
        def unavailable(*args, **kwargs):
            raise RuntimeError(f"{func.__qualname__}: {message}")

        unavailable.__name__, unavailable.__doc__ = func.__name__, func.__doc__
        return unavailable

    module.fail_if_no_align = fail_if_no_align
    module._load_lib = lambda lib: False
    module._check_cuda_version = lambda: None
    module._init_dll_path = lambda: None
    module.__all__ = ["_check_cuda_version", "_IS_TORCHAUDIO_EXT_AVAILABLE"]
    return module


def _module_importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except Exception:  # noqa: BLE001 - any failure means "needs the shim"
        return False


# --------------------------------------------------------------------------
# Probes: does the real torchaudio I/O work here?


def _probe_file(directory: str) -> str:
    path = os.path.join(directory, "probe.wav")
    soundfile.write(path, np.full((8, 1), 0.25, dtype=np.float32), 16000, subtype="PCM_16")
    return path


def _load_works(torchaudio) -> bool:
    if getattr(torchaudio, "load", None) is load:
        return True
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            wav, sr = torchaudio.load(_probe_file(tmp))
            return sr == 16000 and tuple(wav.shape) == (1, 8)
        except Exception:  # noqa: BLE001
            return False


def _info_works(torchaudio) -> bool:
    if getattr(torchaudio, "info", None) is info:
        return True
    if not callable(getattr(torchaudio, "info", None)):
        return False
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            meta = torchaudio.info(_probe_file(tmp))
            return meta.num_frames == 8 and meta.sample_rate == 16000
        except Exception:  # noqa: BLE001
            return False


def _save_works(torchaudio) -> bool:
    if getattr(torchaudio, "save", None) is save:
        return True
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = os.path.join(tmp, "probe_out.wav")
        try:
            torchaudio.save(path, torch.zeros(1, 8), 16000)
            return soundfile.info(path).frames == 8
        except Exception:  # noqa: BLE001
            return False


def _set_audio_backend(backend) -> None:
    """No-op stand-in: torchaudio >= 2.9 has a single I/O path."""


# --------------------------------------------------------------------------
# soundfile-based load / info / save


def _name_of(uri) -> str:
    if isinstance(uri, (str, os.PathLike)):
        return repr(os.fspath(uri))
    return repr(getattr(uri, "name", uri))


def _open(uri):
    """Open ``uri`` with soundfile, turning every failure into AudioReadError."""
    name = _name_of(uri)
    if isinstance(uri, (str, os.PathLike)):
        path = os.fspath(uri)
        if not os.path.exists(path):
            raise AudioReadError(f"cannot read audio file {name}: no such file")
        if os.path.isdir(path):
            raise AudioReadError(f"cannot read audio file {name}: it is a directory")
        uri = path
    try:
        return soundfile.SoundFile(uri)
    except Exception as err:  # libsndfile: corrupt, truncated, unknown format
        raise AudioReadError(
            f"cannot read audio file {name}: not a readable audio file ({err})"
        ) from err


# With normalize=False torchaudio returned the integer samples of integer WAVs.
_RAW_DTYPES = {"PCM_16": ("int16", torch.int16), "PCM_24": ("int32", torch.int32),
               "PCM_32": ("int32", torch.int32)}


def load(uri, frame_offset: int = 0, num_frames: int = -1, normalize: bool = True,
         channels_first: bool = True, format: str | None = None,
         buffer_size: int = 4096, backend: str | None = None):
    """``torchaudio.load`` replacement reading through soundfile.

    Returns ``(waveform, sample_rate)``: float32 in [-1, 1], shaped
    ``(channels, frames)`` (``(frames, channels)`` if not ``channels_first``).
    ``frame_offset`` frames are skipped, then at most ``num_frames`` are read
    (-1: all).  ``normalize=False`` returns the raw integers of 16/24/32-bit
    PCM WAVs (int16 / int32), as torchaudio did; other inputs are float.
    ``format``, ``buffer_size`` and ``backend`` are accepted and ignored
    (libsndfile detects the format from the header).

    Raises AudioReadError (message names the file) for a missing, unreadable
    or empty (0-sample) file or an offset beyond its end.
    """
    if frame_offset < 0:
        raise ValueError(f"frame_offset must be >= 0, got {frame_offset}")
    if num_frames == 0 or num_frames < -1:
        raise ValueError(f"num_frames must be -1 or positive, got {num_frames}")
    name = _name_of(uri)
    with _open(uri) as f:
        if f.frames == 0:
            raise AudioReadError(f"audio file {name} is empty (0 samples)")
        if frame_offset >= f.frames:
            raise AudioReadError(
                f"frame_offset {frame_offset} is beyond the end of audio file {name} "
                f"({f.frames} frames)")
        np_dtype, torch_dtype = "float32", torch.float32
        if not normalize and f.format == "WAV" and f.subtype in _RAW_DTYPES:
            np_dtype, torch_dtype = _RAW_DTYPES[f.subtype]
        try:
            f.seek(frame_offset)
            data = f.read(num_frames, dtype=np_dtype, always_2d=True)
        except Exception as err:
            raise AudioReadError(f"cannot decode audio file {name}: {err}") from err
        sample_rate = f.samplerate
    if data.shape[0] == 0:
        raise AudioReadError(f"audio file {name} yielded no samples")
    if channels_first:
        data = data.T
    return torch.from_numpy(np.ascontiguousarray(data)).to(torch_dtype), sample_rate


@dataclass
class AudioMetaData:
    """What ``torchaudio.info`` returned before torchaudio 2.9."""

    sample_rate: int
    num_frames: int
    num_channels: int
    bits_per_sample: int
    encoding: str


_BITS = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32,
         "FLOAT": 32, "DOUBLE": 64}


def info(uri, format: str | None = None, buffer_size: int = 4096,
         backend: str | None = None) -> AudioMetaData:
    """``torchaudio.info`` replacement (header only, via soundfile).

    A 0-sample file is valid here (``num_frames == 0``); missing or
    unreadable files raise AudioReadError naming the file.
    """
    with _open(uri) as f:
        subtype = f.subtype
        if f.format in ("WAV", "WAVEX", "AIFF"):
            encoding = {"FLOAT": "PCM_F", "DOUBLE": "PCM_F", "PCM_U8": "PCM_U"}.get(subtype, "PCM_S")
        else:
            encoding = f.format
        return AudioMetaData(sample_rate=f.samplerate, num_frames=f.frames,
                             num_channels=f.channels,
                             bits_per_sample=_BITS.get(subtype, 0), encoding=encoding)


_SUBTYPES = {("PCM_S", 16): "PCM_16", ("PCM_S", 24): "PCM_24", ("PCM_S", 32): "PCM_32",
             ("PCM_S", 8): "PCM_S8", ("PCM_U", 8): "PCM_U8",
             ("PCM_F", 32): "FLOAT", ("PCM_F", 64): "DOUBLE"}
_WAV_BY_DTYPE = {torch.float32: "FLOAT", torch.float64: "DOUBLE", torch.int16: "PCM_16",
                 torch.int32: "PCM_32", torch.uint8: "PCM_U8"}


def save(uri, src: torch.Tensor, sample_rate: int, channels_first: bool = True,
         format: str | None = None, encoding: str | None = None,
         bits_per_sample: int | None = None, buffer_size: int = 4096,
         backend: str | None = None, compression=None) -> None:
    """``torchaudio.save`` replacement writing through soundfile.

    The container comes from ``format`` or the file extension.  The sample
    format follows ``encoding``/``bits_per_sample`` when given; otherwise a
    WAV follows the tensor dtype as torchaudio's sox backend did (float32 ->
    32-bit float) and other containers use libsndfile's default.  Float
    samples are clipped to [-1, 1] before integer encoding.
    ``buffer_size``, ``backend`` and ``compression`` are ignored.
    """
    if src.dim() == 1:
        src = src.unsqueeze(0)
    if src.dim() != 2:
        raise ValueError(f"expected a 1-D or 2-D waveform, got shape {tuple(src.shape)}")
    container = (format or os.path.splitext(os.fspath(uri))[1].lstrip(".")).upper()
    subtype = None
    if encoding is not None or bits_per_sample is not None:
        enc = encoding or ("PCM_U" if bits_per_sample == 8 else "PCM_S")
        subtype = _SUBTYPES.get((enc, bits_per_sample or (32 if enc == "PCM_F" else 16)))
        if subtype is None:
            raise ValueError(f"unsupported encoding={encoding!r}, bits_per_sample={bits_per_sample!r}")
    elif container == "WAV":
        subtype = _WAV_BY_DTYPE.get(src.dtype)
    data = src.detach().cpu()
    if data.is_floating_point() and subtype not in ("FLOAT", "DOUBLE"):
        data = data.clamp(-1.0, 1.0)
    if data.dtype == torch.uint8:  # soundfile has no uint8 I/O
        data = (data.to(torch.float32) - 128.0) / 128.0
    data = data.numpy()
    if channels_first:
        data = data.T
    soundfile.write(os.fspath(uri), data, int(sample_rate), subtype=subtype,
                    format=container or None)


# --------------------------------------------------------------------------
# torchaudio.sox_effects stand-in


def _install_sox_effects(torchaudio) -> None:
    """Expose a ``torchaudio.sox_effects`` module (attribute and sys.modules)."""
    module = types.ModuleType(
        "torchaudio.sox_effects",
        "Stand-in for torchaudio.sox_effects (removed in torchaudio 2.9) supporting the "
        "effects s3prl uses: channels, rate, gain, norm. "
        "See upstream_distill.s3prl_bridge.compat.")
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
    torchaudio, _ = _import_torchaudio()  # with the extension stand-in if needed
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
