"""The student network: shapes, padding, heads, teacher initialisation, files."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.models import (
    StudentCheckpointError,
    TeacherModel,
    load_student,
    save_student,
    tiny_teacher_config,
)
from upstream_distill.models.student import StudentModel
from upstream_distill.models.student_config import StudentConfig, distilhubert_config

TINY_CNN = [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]]


def tiny_student(**changes) -> StudentModel:
    settings = dict(conv_layers=TINY_CNN, encoder_dim=32, encoder_layers=2, encoder_heads=2, ffn_dim=64,
                    pos_conv_kernel=16, pos_conv_groups=4, dropout=0.0, attention_dropout=0.0,
                    activation_dropout=0.0, prediction_heads="distilhubert", head_targets=[1, 2], head_dim=48)
    settings.update(changes)
    torch.manual_seed(0)
    return StudentModel(StudentConfig(**settings)).eval()


def test_distilhubert_has_the_published_size():
    counts = StudentModel(distilhubert_config()).parameter_counts()
    assert counts["upstream"] / 1e6 == pytest.approx(23.49, abs=0.01)  # the paper's 23.49M
    assert counts["heads"] == 3 * (768 * 768 + 768)


def test_hidden_states_predictions_and_frames_match_the_teacher_geometry():
    student = tiny_student()
    teacher = TeacherModel(tiny_teacher_config()).eval()
    wavs, lengths = torch.randn(2, 16000), torch.tensor([16000, 9000])
    out, reference = student(wavs, lengths), teacher(wavs, lengths)
    assert len(out.hidden_states) == 3 and out.hidden_states[0].shape == (2, 49, 32)
    assert torch.equal(out.frame_mask, reference.frame_mask)
    assert [p.shape for p in out.predictions] == [(2, 49, 48)] * 2


def test_a_padded_batch_gives_what_each_utterance_gives_alone():
    student = tiny_student()
    wavs, lengths = torch.randn(2, 12000), torch.tensor([12000, 7000])
    batch = student(wavs, lengths)
    alone = student(wavs[1:, :7000])
    frames = int(alone.frame_lengths[0])
    for padded, single in zip(batch.hidden_states, alone.hidden_states):
        torch.testing.assert_close(padded[1, :frames], single[0], rtol=1e-4, atol=1e-5)


def test_layerwise_heads_read_their_source_layers():
    student = tiny_student(prediction_heads="layerwise", head_targets=[1, 2], head_sources=[0, 2])
    out = student(torch.randn(1, 8000))
    torch.testing.assert_close(out.predictions[0], student.heads[0](out.hidden_states[0]))
    torch.testing.assert_close(out.predictions[1], student.heads[1](out.hidden_states[2]))


def test_the_cnn_gradient_is_scaled_and_the_forward_is_not():
    wav = torch.randn(1, 8000)
    grads = []
    for scale in (1.0, 0.1):
        student = tiny_student(cnn_grad_scale=scale)
        out = student(wav)
        # a fixed random readout: a plain sum of a layer-normalised output has a ~0 gradient (float noise)
        readout = torch.randn(out.hidden_states[-1].shape, generator=torch.Generator().manual_seed(0))
        (out.hidden_states[-1] * readout).sum().backward()
        grads.append(student.frontend.feature_extractor.conv_layers[0].conv.weight.grad.clone())
        last = out.hidden_states[-1].detach()
        if scale == 1.0:
            reference = last
    torch.testing.assert_close(last, reference)
    # float reductions differ run to run at ~1e-4 relative; a wrong scale would be off by 10x
    torch.testing.assert_close(grads[1], 0.1 * grads[0], rtol=1e-3, atol=1e-4 * float(grads[0].abs().max()))


def test_initialising_from_the_teacher_copies_the_cnn_and_refuses_other_shapes():
    teacher = TeacherModel(tiny_teacher_config())
    student = tiny_student(encoder_dim=48, encoder_heads=4, ffn_dim=96)
    assert student.initialize_from_teacher(teacher, frontend=True, layers=2) == ["cnn", "layers 1-2"]
    torch.testing.assert_close(student.frontend.feature_extractor.state_dict(),
                               teacher.feature_extractor.state_dict())
    torch.testing.assert_close(student.layers[1].state_dict(), teacher.layers[1].state_dict())
    narrow = tiny_student()
    with pytest.raises(ValueError, match="student's projection from the teacher's: shapes"):
        narrow.initialize_from_teacher(teacher, frontend=False, layers=1)


def test_save_load_round_trip_in_float32_and_float16(tmp_path):
    student = tiny_student()
    wav = torch.randn(1, 8000)
    expected = student(wav).hidden_states
    for dtype, tolerance in ((None, 0.0), (torch.float16, 2e-2)):
        path = tmp_path / f"student-{dtype}.pt"
        save_student(student, path, dtype=dtype)
        loaded = load_student(path)
        assert loaded.heads is None  # the upstream's view drops the training-only heads
        for got, want in zip(loaded(wav).hidden_states, expected):
            torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)
    assert load_student(tmp_path / "student-None.pt", with_heads=True).heads is not None


def test_foreign_and_missing_files_are_named(tmp_path):
    with pytest.raises(StudentCheckpointError, match="nothing-here.pt"):
        load_student(tmp_path / "nothing-here.pt")
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(StudentCheckpointError, match="garbage.pt.*cannot be read"):
        load_student(garbage)
    other = tmp_path / "teacher-like.pt"
    torch.save({"model": {}}, other)
    with pytest.raises(StudentCheckpointError, match="teacher-like.pt.*holds no student"):
        load_student(other)


@pytest.mark.parametrize("method, preset, expected_m", [("distilhubert", None, 23.49), ("star_hubert", None, 22.50)])
def test_method_configs_build_the_published_students(method, preset, expected_m):
    config = _method_student(method, preset)
    assert StudentModel(config).parameter_counts()["upstream"] / 1e6 == pytest.approx(expected_m, abs=0.01)


def test_the_mini_students_share_one_budget_under_a_quarter_of_the_teacher():
    teacher_m = 11.71  # tiny_hubert without its unit head (pretrain/hubert_teacher/config_model.yaml)
    sizes = {m: StudentModel(_method_student(m, "mini")).parameter_counts() for m in ("distilhubert", "star_hubert")}
    for counts in sizes.values():
        assert counts["total"] / 1e6 <= teacher_m / 4  # heads included
    upstream = [c["upstream"] for c in sizes.values()]
    assert max(upstream) / min(upstream) < 1.05


def _method_student(method: str, preset) -> StudentConfig:
    from pathlib import Path

    from upstream_distill.training.config import compose_config

    folder = Path(__file__).resolve().parents[2] / "pretrain" / method
    student = dict(compose_config(folder / "config_runner.yaml", folder / "config_model.yaml", preset)["model"]["student"])
    if student.get("prediction_heads", "none") != "none" and student.get("head_dim") is None:
        student["head_dim"] = 384
    return StudentConfig.from_dict(student)
