"""Deployable students: one module per target format, each written from the project's networks and
checked against them (``run_export.py``, :mod:`.cli`).

* ``onnx_file.py``: an ONNX graph, waveform in and every hidden state out (dynamic batch and
  length; an Fbank front-end's filterbank included, ``fbank_graph.py``), and its ONNX Runtime int8
  twin; ``runtime.py`` runs such files;
* ``int8.py``: PyTorch's dynamic int8 student, a ``save_student`` file the ``distill_student``
  upstream loads (the quantisation itself: ``models/quantized.py``);
* ``huggingface.py``: a ``transformers.HubertModel`` folder;
* ``distiller.py``: s3prl's ``distiller`` checkpoint (DistilHuBERT's release format), both ways;
* ``dphubert.py``: DPHuBERT's pruned-model file, both ways;
* ``network.py``: the kinds of network every format starts from; ``reading.py``: which one a file
  holds (the project's own, or a foreign format read through ``distiller.py``/``dphubert.py``);
  ``checks.py``: how far a written file's hidden states are from the network's.

Importing this package imports nothing heavy (``runtime.onnx_session`` runs without torch); onnx,
onnxruntime and transformers are imported by the functions that need them.
"""
__all__ = ["describe", "float_copy", "load_for_export"]


def __getattr__(name: str):
    """``from upstream_distill.export import load_for_export``, importing torch only then."""
    if name in __all__:
        from . import network, reading

        return getattr(reading if name == "load_for_export" else network, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
