"""``import torchaudio`` that works on every install and patches nothing.

The CPU machines of this project carry a *CUDA* build of torchaudio (the only
one on PyPI for current torch) beside a CPU torch, so ``import torchaudio``
dies while loading the compiled extension, although everything the models need
from torchaudio (the wav2vec 2.0 / HuBERT / WavLM components, the checkpoint
importers, Kaldi fbank and MFCC, resampling) is pure Python.
:func:`import_torchaudio` stands in for the extension module only when it is
what failed; torchaudio's own functions (``load``, ``save``, ...) and torch are
left as they are.  Filling the gaps s3prl's code needs (audio I/O through
soundfile, ``sox_effects``, the ``torch.load`` allow-list) is the s3prl
bridge's business: :mod:`upstream_distill.s3prl_bridge.compat`.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
import types

__all__ = ["import_torchaudio", "require_torchaudio"]


def require_torchaudio():
    """The torchaudio module (see :func:`import_torchaudio`); ImportError when it is not installed."""
    torchaudio, _ = import_torchaudio()
    if torchaudio is None:
        raise ImportError("torchaudio is not installed (see tools/setup_env.sh)")
    return torchaudio


def import_torchaudio():
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
                              "which failed to load; see upstream_distill.core.torchaudio_import.")
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
