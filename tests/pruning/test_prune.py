"""Gated models, the real pruning and the parameter count, on small random teachers of all three kinds."""
from __future__ import annotations

import pytest
import torch

from upstream_distill.core.errors import ConfigError
from upstream_distill.models import (
    PrunedModel,
    PruningMasks,
    StudentCheckpointError,
    TeacherModel,
    count_parameters,
    load_student,
    save_student,
    tiny_teacher_config,
)
from upstream_distill.pruning import GateConfig, ModelGates, expected_parameters, prune

ARCHS = ["hubert", "wavlm", "wav2vec2"]
ALL_UNITS = ["conv", "head", "interm", "attlayer", "ffnlayer"]


def _teacher(arch: str, pre_ln: bool = False, seed: int = 0) -> TeacherModel:
    torch.manual_seed(seed)
    config = tiny_teacher_config(arch)
    config.layer_norm_first = pre_ln
    config.encoder_layers = 3
    teacher = TeacherModel(config)
    with torch.no_grad():  # away from the init's zero biases and unit norms
        for parameter in teacher.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    return teacher.eval()


def _batch(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(2, 9000, generator=generator), torch.tensor([9000, 6100])


def _outputs(model, masks=None):
    waveforms, lengths = _batch()
    with torch.no_grad():
        output = model(waveforms, lengths, masks=masks) if masks is not None or isinstance(model, PrunedModel) \
            else model(waveforms, lengths)
    return output.hidden_states, output.frame_mask


def _max_difference(first, second) -> float:
    (states_a, mask), (states_b, _) = first, second
    return max(((a - b).abs() * mask[..., None]).max().item() for a, b in zip(states_a, states_b))


def _scrambled_gates(model: PrunedModel, seed: int, units=ALL_UNITS) -> ModelGates:
    """Gates with random log_alpha: some units dropped, kept ones at soft values below 1."""
    gates = ModelGates(model.config, GateConfig(units=list(units)))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for gate in gates.modules():
            if hasattr(gate, "log_alpha"):
                gate.log_alpha.copy_(torch.randn(gate.log_alpha.shape, generator=generator) * 2.0 + 0.5)
    return gates.eval()


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pre_ln", [False, True])
def test_with_every_gate_open_the_gated_model_is_the_teacher(arch, pre_ln):
    teacher = _teacher(arch, pre_ln)
    model = PrunedModel.from_teacher(teacher).eval()
    gates = ModelGates(model.config, GateConfig(units=ALL_UNITS))
    gates.open_all()
    for mode in (gates.train, gates.eval):  # a training sample of an open gate is exactly 1 too
        mode()
        assert _max_difference(_outputs(teacher), _outputs(model, gates.masks())) == 0.0


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("pre_ln", [False, True])
def test_the_pruned_model_computes_what_the_gated_model_computes(arch, pre_ln):
    """Exact up to float rounding, heads of WavLM's relative-position bias included. The last CNN
    block's channels stay ungated here: the feature projection's layer norm that follows them takes
    its statistics over all channels when gated (zeros included) and over the kept ones after pruning,
    so pruning those channels is the one place where the dense model differs (DPHuBERT's too)."""
    model = PrunedModel.from_teacher(_teacher(arch, pre_ln)).eval()
    gates = _scrambled_gates(model, seed=3)
    masks = gates.masks()
    masks.conv[-1] = None
    assert any(bool((m == 0).any()) for m in masks.heads) and any(bool((m == 0).any()) for m in masks.ffn_units)
    assert any(bool(((m > 0) & (m < 1)).any()) for m in masks.ffn_units)  # soft values to fold
    pruned = prune(model, masks)
    assert pruned.config.ffn_dims != model.config.ffn_dims
    assert _max_difference(_outputs(model, masks), _outputs(pruned)) < 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_whole_sub_layers_are_removed_and_the_rest_stays_exact(arch):
    model = PrunedModel.from_teacher(_teacher(arch)).eval()
    layers = model.config.encoder_layers
    masks = PruningMasks(attention=[torch.tensor([0.0])] + [torch.tensor([0.7])] * (layers - 1),
                         ffn=[torch.tensor([0.9])] * (layers - 1) + [torch.tensor([0.0])],
                         heads=[None] * (layers - 1) + [torch.zeros(len(model.config.layer_heads[-1]))])
    pruned = prune(model, masks)
    assert pruned.config.layer_heads[0] == [] and pruned.config.layer_heads[-1] == []
    assert pruned.config.ffn_dims[-1] == 0
    assert _max_difference(_outputs(model, masks), _outputs(pruned)) < 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_the_expected_count_with_binary_gates_is_the_pruned_models_real_count(arch):
    model = PrunedModel.from_teacher(_teacher(arch)).eval()
    generator = torch.Generator().manual_seed(5)
    config = model.config

    def binary(size: int, at_least_one: bool = False) -> torch.Tensor:
        mask = (torch.rand(size, generator=generator) < 0.5).float()
        if at_least_one:
            mask[0] = 1.0
        return mask

    masks = PruningMasks(conv=[binary(c, at_least_one=True) for c, _, _ in config.conv_layers],
                         heads=[binary(len(h)) for h in config.layer_heads[:-1]] + [torch.zeros(4)],
                         ffn_units=[binary(w) for w in config.ffn_dims],
                         attention=[torch.tensor([1.0])] * config.encoder_layers,
                         ffn=[torch.tensor([0.0])] + [torch.tensor([1.0])] * (config.encoder_layers - 1))
    pruned = prune(model, masks)
    assert expected_parameters(config, masks).item() == count_parameters(pruned) < count_parameters(model)
    assert expected_parameters(config).item() == count_parameters(model)  # and with nothing removed


def test_the_expected_count_is_differentiable_in_every_gate():
    model = PrunedModel.from_teacher(_teacher("wavlm"))
    gates = ModelGates(model.config, GateConfig(units=ALL_UNITS))
    gates.expected_parameters().backward()
    assert all(gate.log_alpha.grad is not None and bool((gate.log_alpha.grad > 0).all())
               for gate in gates.modules() if hasattr(gate, "log_alpha"))
    assert 0.0 < gates.expected_sparsity().item() < 0.2  # FFN units start at P(keep) 0.83, the rest ~1


@pytest.mark.parametrize("arch", ARCHS)
def test_a_pruned_student_round_trips_through_its_file_and_the_upstream(arch, tmp_path):
    from upstream_distill.upstreams.distill_student.hubconf import distill_student

    model = PrunedModel.from_teacher(_teacher(arch)).eval()
    pruned = prune(model, _scrambled_gates(model, seed=7).masks())
    save_student(pruned, tmp_path / "pruned.pt")
    loaded = load_student(tmp_path / "pruned.pt")
    assert isinstance(loaded, PrunedModel) and loaded.config == pruned.config
    assert _max_difference(_outputs(pruned), _outputs(loaded)) == 0.0
    upstream = distill_student(ckpt=str(tmp_path / "pruned.pt")).eval()
    waveforms, lengths = _batch()
    with torch.no_grad():
        states = upstream([waveforms[0], waveforms[1, :6100]])["hidden_states"]
    expected, mask = _outputs(pruned)
    assert len(states) == len(expected) and max(((a - b).abs() * mask[..., None]).max().item()
                                                for a, b in zip(states, expected)) < 1e-5


def test_a_pruned_checkpoint_whose_shapes_do_not_match_its_config_is_named(tmp_path):
    model = PrunedModel.from_teacher(_teacher("hubert"))
    path = tmp_path / "broken.pt"
    save_student(model, path)
    payload = torch.load(path, weights_only=True)
    payload["config"]["ffn_dims"][0] -= 1
    torch.save(payload, path)
    with pytest.raises(StudentCheckpointError, match="broken.pt.*wrong shape"):
        load_student(path)


def test_a_gate_config_naming_an_unknown_unit_is_refused():
    with pytest.raises(ConfigError, match=r"pruning.units.*'neurons'"):
        GateConfig(units=["conv", "neurons"])


@pytest.mark.parametrize("source, name", [("hf", "wavlm"), ("hf", "wav2vec2"), ("fairseq", "hubert")])
def test_teachers_from_real_files_become_gated_models_with_their_own_hidden_states(
        hf_references, fairseq_references, source, name):
    """Hugging Face folders and fairseq .pt files as the project loads them: the full-width model
    reproduces transformers' hidden states, and pruning it stays exact."""
    from upstream_distill.models import load_teacher

    reference = (hf_references if source == "hf" else fairseq_references)[name]
    model = PrunedModel.from_teacher(load_teacher(reference.path)).eval()
    wav = reference.waveforms[0][None]
    with torch.no_grad():
        states = model(wav).hidden_states
    for ours, theirs in zip(states, reference.hidden_states[0]):
        assert (ours[0] - theirs[0]).abs().max().item() <= 1e-4
    masks = _scrambled_gates(model, seed=11, units=["head", "interm"]).masks()
    with torch.no_grad():
        gated, pruned = model(wav, masks=masks).hidden_states, prune(model, masks)(wav).hidden_states
    assert max((a - b).abs().max().item() for a, b in zip(gated, pruned)) < 1e-5
