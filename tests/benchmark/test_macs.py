"""The MAC counter (torch's FlopCounterMode, FLOPs / 2) against hand counts."""
import torch

from upstream_distill.benchmark.macs import count_macs, upstream_macs


def test_a_linear_layer_costs_inputs_times_outputs_per_row():
    layer = torch.nn.Linear(4, 3)
    assert count_macs(lambda: layer(torch.randn(5, 4))) == 5 * 4 * 3  # the bias add is not a MAC


def test_a_convolution_costs_kernel_times_channels_per_output_sample():
    conv = torch.nn.Conv1d(2, 3, kernel_size=4, stride=2)
    # 10 samples -> (10 − 4) / 2 + 1 = 4 outputs, each 3 channels × 2 input channels × 4 taps
    assert count_macs(lambda: conv(torch.randn(1, 2, 10))) == 4 * 3 * 2 * 4


def test_attention_on_cpu_is_counted():
    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 6)
    # Q Kᵀ: 2 heads × 5 × 7 × 8; softmax(.) V: 2 heads × 5 × 7 × 6
    assert count_macs(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)) == 2 * 5 * 7 * (8 + 6)


class FrameUpstream(torch.nn.Module):
    """An s3prl-style upstream: a list of waveforms in, 400-sample frames every 320 samples, a linear map."""

    def __init__(self):
        super().__init__()
        self.frames = torch.nn.Conv1d(1, 8, kernel_size=400, stride=320)
        self.project = torch.nn.Linear(8, 16)

    def forward(self, wavs):
        frames = self.frames(torch.stack(wavs)[:, None]).transpose(1, 2)
        return {"hidden_states": [self.project(frames)]}


def test_an_upstream_is_counted_on_10_seconds_of_audio():
    frames = (160000 - 400) // 320 + 1  # 499
    assert upstream_macs(FrameUpstream()) == frames * 8 * 400 + frames * 8 * 16


def test_an_int8_student_counts_the_same_weights_and_multiply_adds_as_its_float_self():
    """Dynamically quantised Linears pack their weights (no nn.Parameter) and run an op the FLOP counter
    does not know: the size and MAC columns of an int8 row must still count them."""
    import copy

    from upstream_distill.models import count_parameters, quantize_dynamic_int8

    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.GELU(), torch.nn.Linear(4, 2, bias=False))
    int8 = quantize_dynamic_int8(copy.deepcopy(model))
    assert count_parameters(int8) == count_parameters(model) == 8 * 4 + 4 + 4 * 2
    x = torch.randn(3, 8)
    assert count_macs(lambda: int8(x)) == count_macs(lambda: model(x)) == 3 * (8 * 4 + 4 * 2)
