"""The latency table on tiny networks: every backend in its own process, ratios to the teacher, a stamped page.

Runs 8 probe processes (2 networks x 4 backends, one length, one thread, 2 repeats); the real table is
``make latency`` (never written by tests).
"""
from __future__ import annotations

import torch

from upstream_distill.benchmark.latency import (
    Contender,
    latency_markdown,
    measure_latency,
    prepare_files,
    write_report,
)
from upstream_distill.benchmark.latency_probe import BACKENDS
from upstream_distill.models import StudentConfig, StudentModel, TeacherModel, tiny_teacher_config


def test_the_latency_table_times_every_backend_against_the_teacher(tmp_path):
    torch.manual_seed(0)
    student = StudentModel(StudentConfig(conv_layers=[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
                                         encoder_dim=32, encoder_layers=1, encoder_heads=2, ffn_dim=64,
                                         pos_conv_kernel=16, pos_conv_groups=4)).eval()
    contenders = [Contender("tiny teacher", TeacherModel(tiny_teacher_config()).eval(), teacher=True),
                  Contender("tiny student", student)]
    files = prepare_files(contenders, tmp_path / "files", BACKENDS)
    assert {backend for _, backend in files} == set(BACKENDS)
    results = measure_latency(contenders, files, seconds=[0.5], threads=[1], backends=BACKENDS, repeats=2,
                              progress=lambda line: None)
    assert len(results) == 8 and all(m.median_ms > 0 and m.peak_rss_mb > 0 for m in results)
    onnx = [m for m in results if m.backend.startswith("onnxruntime")]
    torch_runs = [m for m in results if m.backend.startswith("torch")]
    # ONNX Runtime processes run without torch: a smaller bare process
    assert max(m.rss_after_imports_mb for m in onnx) < min(m.rss_after_imports_mb for m in torch_runs)

    page = write_report(latency_markdown(contenders, results, repeats=2), tmp_path / "latency.md",
                        "python -m upstream_distill.benchmark.latency --test")
    text = page.read_text()
    assert text.startswith("# Deployment latency") and "cores" in text  # stamped with the machine
    assert "### 0.5 s of audio, batch 1" in text and "x tiny teacher" in text
    teacher_rows = [line for line in text.splitlines() if line.startswith("| tiny teacher |")]
    assert len(teacher_rows) == 4 and all("| 1.00 |" in row for row in teacher_rows)
    assert sum(line.startswith("| tiny student |") for line in text.splitlines()) == 4
