"""run_export's command line: formats, output paths, refusals and exit codes (in-process)."""
from __future__ import annotations

from pathlib import Path

import pytest

from upstream_distill.export.cli import main, output_path


def test_output_paths_follow_the_checkpoint(tmp_path):
    ckpt = Path("exp/run/upstream.pt")
    assert output_path(ckpt, None, "onnx") == Path("exp/run/upstream.onnx")
    assert output_path(ckpt, None, "int8") == Path("exp/run/upstream.int8.pt")
    assert output_path(ckpt, tmp_path, "onnx-int8") == tmp_path / "upstream.int8.onnx"
    assert output_path(ckpt, tmp_path / "deploy", "distiller") == tmp_path / "deploy" / "upstream.distiller.ckpt"
    assert output_path(ckpt, tmp_path / "model.onnx", "onnx") == tmp_path / "model.onnx"
    assert output_path(ckpt, tmp_path / "hf", "hf") == tmp_path / "hf"


@pytest.mark.parametrize("fmt, written", [("onnx", "out/cnn.onnx"), ("int8", "out/cnn.int8.pt"),
                                          ("hf", "out/config.json")])  # hf: -o is the folder itself
def test_a_format_is_written_and_checked(student_files, tmp_path, capsys, fmt, written):
    assert main(["-k", str(student_files["cnn"]), "--format", fmt, "-o", str(tmp_path / "out") + "/"]) == 0
    printed = capsys.readouterr().out
    assert (tmp_path / written).exists() and "max |diff|" in printed


def test_a_float_check_above_atol_exits_1(student_files, tmp_path, capsys):
    assert main(["-k", str(student_files["pruned"]), "--format", "onnx", "-o", str(tmp_path / "p.onnx"),
                 "--atol", "0"]) == 1
    assert "--atol 0" in capsys.readouterr().err


def test_a_shape_the_format_cannot_hold_exits_2_with_the_reason(student_files, tmp_path, capsys):
    assert main(["-k", str(student_files["fbank"]), "--format", "hf", "-o", str(tmp_path / "hf")]) == 2
    assert "front-end is 'fbank'" in capsys.readouterr().err


def test_a_file_that_holds_no_student_is_named(tmp_path, capsys):
    import torch

    torch.save({"something": torch.zeros(2)}, tmp_path / "other.pt")
    assert main(["-k", str(tmp_path / "other.pt"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err
    assert "other.pt" in err and "distiller" in err and "DPHuBERT" in err
