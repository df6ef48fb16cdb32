"""STaR as a method of the shared runner: layer maps, objective selection, a real run, the upstream."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.distill.objectives import (
    IntraLayerGramObjective,
    LayerwiseGramObjective,
    build_objectives,
    layer_pairs,
)
from upstream_distill.losses.intra_layer_gram import intra_layer_tgm_loss
from upstream_distill.losses.temporal_gram import layerwise_tgm_loss
from upstream_distill.models import TeacherModel, tiny_teacher_config
from upstream_distill.models.student import StudentModel
from upstream_distill.models.student_config import StudentConfig
from upstream_distill.training import ConfigError, read_metrics

from ..training.conftest import run_pretrain
from .conftest import distill_args

TINY_CNN = [[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]]


def _student(layers: int) -> StudentModel:
    torch.manual_seed(0)
    return StudentModel(StudentConfig(conv_layers=TINY_CNN, encoder_dim=16, encoder_layers=layers, encoder_heads=2,
                                      ffn_dim=32, pos_conv_kernel=8, pos_conv_groups=4)).eval()


def _teacher(layers: int) -> TeacherModel:
    config = tiny_teacher_config()
    config.encoder_layers = layers
    return TeacherModel(config).eval()


def test_auto_maps_every_kth_teacher_layer_and_explicit_pairs_are_checked():
    assert layer_pairs("auto", 3, 12, "x") == [[1, 4], [2, 8], [3, 12]]
    assert layer_pairs("auto", 6, 6, "x") == [[i, i] for i in range(1, 7)]
    assert layer_pairs([[1, 3], [2, 6]], 2, 6, "x") == [[1, 3], [2, 6]]
    with pytest.raises(ConfigError, match="multiple"):
        layer_pairs("auto", 4, 6, "x")
    with pytest.raises(ConfigError, match="student 1..2"):
        layer_pairs([[3, 1]], 2, 6, "x")


def test_the_objectives_compare_the_mapped_states_and_intra_blocks_span_k_teacher_layers():
    student, teacher = _student(2), _teacher(4)
    wavs, lengths = torch.randn(2, 9000), torch.tensor([9000, 6000])
    s_out, t_out = student(wavs, lengths), teacher(wavs, lengths)
    layerwise = LayerwiseGramObjective(student, teacher, layers="auto", normalization="frames")
    expected = layerwise_tgm_loss([s_out.hidden_states[1], s_out.hidden_states[2]],
                                  [t_out.hidden_states[2], t_out.hidden_states[4]], s_out.frame_mask, "frames")
    torch.testing.assert_close(layerwise.terms(t_out, s_out)["loss"], expected)
    assert layerwise.needs.layers == {2, 4}

    intra = IntraLayerGramObjective(student, teacher, layers="auto")
    assert intra.blocks == [(1, 2, 0), (2, 4, 2)]  # student layer 2 <-> teacher layers 3-4 as one block
    expected = intra_layer_tgm_loss([s_out.hidden_states[0], s_out.hidden_states[1]],
                                    [s_out.hidden_states[1], s_out.hidden_states[2]],
                                    [t_out.hidden_states[0], t_out.hidden_states[2]],
                                    [t_out.hidden_states[2], t_out.hidden_states[4]], s_out.frame_mask, "feature")
    torch.testing.assert_close(intra.terms(t_out, s_out)["loss"], expected)


def test_weight_zero_switches_an_objective_off_with_its_needs():
    student, teacher = _student(2), _teacher(2)
    built = build_objectives({"layerwise_tgm": {"weight": 1.0}, "attention_map": {"weight": 0.0}}, student, teacher)
    assert list(built) == ["layerwise_tgm"] and not built["layerwise_tgm"].needs.attentions
    with pytest.raises(ConfigError, match="every objective has weight 0"):
        build_objectives({"attention_map": {"weight": 0}}, student, teacher)
    with pytest.raises(ConfigError, match="unknown objective 'gram'"):
        build_objectives({"gram": {}}, student, teacher)


def test_star_hubert_trains_with_all_three_terms_and_loads_as_an_upstream(tiny_corpus, teacher_file, tmp_path):
    expdir = tmp_path / "star"
    result = run_pretrain(*distill_args(tiny_corpus, expdir, teacher_file,
                                        "config.runner.total_steps=4,,config.model.objectives.attention_map.weight=1.0",
                                        method="star_hubert"))
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_metrics(expdir)[4]
    assert {"layerwise_tgm", "intra_layer_tgm", "attention_map"} <= set(metrics)
    assert "targets on the fly" in (expdir / "train.log").read_text()

    from upstream_distill.s3prl_bridge import prepare_s3prl

    prepare_s3prl()
    import s3prl.hub as hub

    upstream = getattr(hub, "star_hubert")(ckpt=str(expdir / "upstream.pt")).eval()
    with torch.no_grad():
        states = upstream([torch.randn(8000)])["hidden_states"]
    assert len(states) == 3 and states[0].shape[-1] == 32
    with pytest.raises(ValueError, match="needs a checkpoint"):
        getattr(hub, "star_hubert")()
