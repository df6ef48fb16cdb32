"""The speed benchmark's contenders are the configured students, and its timing helper is fair."""
import datetime
import sys

import pytest
import torch

from upstream_distill.benchmark import speed


def test_the_contenders_are_the_students_the_configs_build():
    students = {label: speed.configured_student(method, model_file, "mini", teacher_dim=384)
                for label, method, model_file in speed.STUDENT_SHAPES}
    cnn, fbank = students["deep & thin, CNN"], students["deep & thin, Fbank front-end"]
    assert type(cnn.frontend).__name__ == "WaveformFrontEnd" and type(fbank.frontend).__name__ != "WaveformFrontEnd"
    # the same encoder behind both front-ends: only the front-end differs
    assert cnn.config.encoder_layers == fbank.config.encoder_layers and cnn.config.encoder_dim == fbank.config.encoder_dim
    wav = torch.randn(1, 16000)
    with torch.inference_mode():
        frames = {label: len(model(wav).hidden_states[-1][0]) for label, model in students.items()}
    assert max(frames.values()) - min(frames.values()) <= 1  # every student runs at 20 ms frames


def test_interleaved_medians_time_every_contender_the_same_number_of_times():
    calls = {"a": 0, "b": 0}

    def bump(name):
        def run():
            calls[name] += 1
        return run

    medians = speed.interleaved_medians({"a": bump("a"), "b": bump("b")}, repeats=3, warmup=2)
    assert calls == {"a": 5, "b": 5} and set(medians) == {"a", "b"}


def test_the_report_keeps_the_printout_with_its_command_machine_and_date(tmp_path, capsys):
    tee = speed._Tee(sys.stdout)
    print("  -> deep & thin, Fbank front-end: 1.23x faster", file=tee)
    path = speed.write_report(tee.kept.getvalue(), tmp_path / "results" / "speed.md",
                              "python -m upstream_distill.benchmark.speed --out results/speed.md")
    text = path.read_text()
    assert "1.23x faster" in capsys.readouterr().out  # still printed
    assert text.startswith("# Speed and size") and "`python -m upstream_distill.benchmark.speed --out" in text
    assert "1.23x faster" in text and datetime.date.today().isoformat() in text
    assert not list(path.parent.glob("*.tmp"))


def test_the_dphubert_shape_has_dphuberts_size():
    """HuBERT Base pruned to sparsity 0.75 (random gates, no training) counts DPHuBERT's 23.59M, against
    94.37M for the teacher without its unit head; the pruned model runs at the teacher's frame rate."""
    from upstream_distill.models import TeacherModel, count_parameters, hubert_base_config
    from upstream_distill.models.parameters import UNIT_HEAD_PREFIXES

    torch.manual_seed(0)
    teacher = TeacherModel(hubert_base_config())
    assert count_parameters(teacher, UNIT_HEAD_PREFIXES) / 1e6 == pytest.approx(94.37, abs=0.01)
    pruned = speed.pruned_shape(teacher, 0.75, seed=0)
    assert count_parameters(pruned) / 1e6 == pytest.approx(23.59, rel=0.01)
    widths = pruned.config.ffn_dims
    assert min(widths) < 3072 and len(widths) == 12 and all(len(h) < 12 for h in pruned.config.layer_heads)
    with torch.inference_mode():
        assert pruned.eval()(torch.randn(1, 16000)).hidden_states[-1].shape == (1, 49, 768)
