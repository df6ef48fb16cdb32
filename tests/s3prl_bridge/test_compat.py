"""Each shim of upstream_distill.s3prl_bridge.compat against what it replaces.

Where a reference implementation exists on this machine (libsndfile via
soundfile, the `sox` program) the shim is compared with it; the torchaudio
checks hold whether or not the shims were needed (CPU or CUDA install).
"""

import argparse
import importlib
import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from upstream_distill.s3prl_bridge import compat

SOX = shutil.which("sox")
needs_sox = pytest.mark.skipif(SOX is None, reason="the sox program is not installed")
REPO = Path(__file__).resolve().parents[2]
EFFECTS = [["channels", "1"], ["rate", "16000"], ["gain", "-3.0"]]


@pytest.fixture(scope="module")
def applied():
    return compat.apply()


@pytest.fixture(scope="module")
def torchaudio(applied):
    import torchaudio

    return torchaudio


def _sox(*args):
    subprocess.run([SOX, *map(str, args)], check=True, capture_output=True)


def _noise(frames, channels, seed=0):
    return np.random.default_rng(seed).uniform(-0.8, 0.8, (frames, channels)).astype(np.float32)


# ---------------------------------------------------------------- apply()


def test_apply_is_idempotent(applied, torchaudio):
    load_before = torchaudio.load
    sox_before = sys.modules["torchaudio.sox_effects"]
    assert compat.apply() == applied
    assert compat.apply() == applied
    assert torchaudio.load is load_before
    assert sys.modules["torchaudio.sox_effects"] is sox_before
    assert sys.modules["torchaudio"] is torchaudio
    assert set(applied) == {"torch_load_namespace", "cpu_rnn_native", "torchaudio_extension", "torchaudio_load",
                            "torchaudio_info", "torchaudio_save", "sox_effects",
                            "set_audio_backend"}
    # Each flag matches what is installed.
    assert (torchaudio.load is compat.load) == applied["torchaudio_load"]
    assert (torchaudio.info is compat.info) == applied["torchaudio_info"]
    assert (torchaudio.save is compat.save) == applied["torchaudio_save"]


def test_shims_were_needed_here(applied, torchaudio):
    """On this CPU box the extension really cannot load and torchcodec is unusable."""
    ext = sys.modules["torchaudio._extension"]
    if not applied["torchaudio_extension"]:
        pytest.skip("torchaudio's compiled extension loads here: nothing to stand in for")
    assert ext._IS_TORCHAUDIO_EXT_AVAILABLE is False
    lib = next(Path(torchaudio.__file__).parent.joinpath("lib").glob("_torchaudio*.so"))
    with pytest.raises(OSError):
        torch.ops.load_library(str(lib))
    # Functions needing the extension fail with a clear message, not at import.
    with pytest.raises(RuntimeError, match="compiled extension"):
        torchaudio.functional.forced_align(torch.randn(1, 10, 5).log_softmax(-1),
                                           torch.tensor([[1, 2]], dtype=torch.int32))


def test_fresh_interpreter_needs_and_gets_the_shims(tmp_path):
    """Before apply(): torchaudio import and Namespace checkpoints fail; after: both work."""
    script = textwrap.dedent(f"""
        import argparse, json, torch
        torch.save({{"Args": argparse.Namespace(lr=0.1)}}, {str(tmp_path / 'c.ckpt')!r})
        before = {{}}
        try:
            import torchaudio
            before["torchaudio"] = True
        except Exception:
            before["torchaudio"] = False
        try:
            torch.load({str(tmp_path / 'c.ckpt')!r})
            before["ckpt"] = True
        except Exception:
            before["ckpt"] = False
        from upstream_distill.s3prl_bridge import compat
        shims = compat.apply()
        import torchaudio
        ckpt = torch.load({str(tmp_path / 'c.ckpt')!r})
        assert ckpt["Args"].lr == 0.1
        fb = torchaudio.compliance.kaldi.fbank(torch.randn(1, 16000))
        print(json.dumps({{"before": before, "shims": shims, "fbank": list(fb.shape)}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["fbank"] == [98, 23]
    # The extension shim is applied exactly when the plain import failed.
    assert report["shims"]["torchaudio_extension"] == (not report["before"]["torchaudio"])
    if report["shims"]["torch_load_namespace"]:
        assert report["before"]["ckpt"] is False


def test_torchaudio_pure_python_parts_work(torchaudio):
    wav = torch.randn(1, 16000)
    assert torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=80).shape == (98, 80)
    assert torchaudio.functional.resample(wav, 16000, 8000).shape == (1, 8000)
    assert torchaudio.transforms.Resample(16000, 22050)(wav).shape == (1, 22050)
    assert torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=13,
                                      melkwargs={"n_mels": 40})(wav).shape[:2] == (1, 13)
    model = torchaudio.models.hubert_base().eval()
    with torch.no_grad():
        features, _ = model(torch.randn(1, 3200))
    assert features.shape == (1, 9, 768)


def test_set_audio_backend_exists(torchaudio):
    assert torchaudio.set_audio_backend("sox_io") is None


def test_torch_load_accepts_namespace(applied, tmp_path):
    """s3prl checkpoints pickle argparse.Namespace; torch>=2.6 loads weights_only by default."""
    path = tmp_path / "states-1.ckpt"
    torch.save({"Args": argparse.Namespace(upstream="fbank", seed=1337),
                "Downstream": {"w": torch.ones(2)}}, path)
    for kwargs in ({}, {"map_location": "cpu"}, {"weights_only": True}):
        ckpt = torch.load(path, **kwargs)
        assert ckpt["Args"].upstream == "fbank" and ckpt["Args"].seed == 1337
        assert torch.equal(ckpt["Downstream"]["w"], torch.ones(2))


# ---------------------------------------------------------------- load / info / save


@pytest.mark.parametrize("ext,subtype", [("wav", "PCM_16"), ("flac", "PCM_16"),
                                          ("wav", "PCM_24"), ("wav", "FLOAT")])
def test_load_matches_soundfile(tmp_path, ext, subtype):
    path = tmp_path / f"x.{ext}"
    sf.write(path, _noise(1234, 2), 22050, subtype=subtype)
    ref, ref_sr = sf.read(path, dtype="float32", always_2d=True)
    wav, sr = compat.load(path)
    assert sr == ref_sr == 22050
    assert wav.dtype == torch.float32 and wav.shape == (2, 1234)
    np.testing.assert_array_equal(wav.numpy(), ref.T)
    wav_t, _ = compat.load(str(path), channels_first=False)
    assert wav_t.shape == (1234, 2) and torch.equal(wav_t, wav.T)


def test_load_frame_offset_and_num_frames(tmp_path):
    path = tmp_path / "x.flac"
    sf.write(path, _noise(1000, 1), 16000)
    full, _ = compat.load(path)
    assert torch.equal(compat.load(path, frame_offset=100)[0], full[:, 100:])
    assert torch.equal(compat.load(path, frame_offset=100, num_frames=50)[0], full[:, 100:150])
    assert torch.equal(compat.load(path, num_frames=5000)[0], full)  # clipped at the end
    with pytest.raises(compat.AudioReadError, match="beyond the end"):
        compat.load(path, frame_offset=1000)
    with pytest.raises(ValueError):
        compat.load(path, num_frames=0)


def test_load_normalize_false_gives_integers(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, _noise(300, 1), 16000, subtype="PCM_16")
    wav, _ = compat.load(path, normalize=False)
    assert wav.dtype == torch.int16
    np.testing.assert_array_equal(wav.numpy()[0], sf.read(path, dtype="int16")[0])


def test_load_file_object(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, _noise(300, 1), 16000)
    with open(path, "rb") as handle:
        wav, sr = compat.load(handle)
    assert sr == 16000 and torch.equal(wav, compat.load(path)[0])


@needs_sox
@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_load_reads_files_written_by_sox(tmp_path, ext):
    path = tmp_path / f"tone.{ext}"
    _sox("-n", "-r", 44100, "-c", 2, "-b", 16, path, "synth", 0.25, "sine", 440, "sine", 660,
         "vol", 0.5)
    wav, sr = compat.load(path)
    assert sr == 44100 and wav.shape == (2, 11025)
    assert torch.equal(wav, torch.from_numpy(sf.read(path, dtype="float32")[0].T.copy()))
    info = compat.info(path)
    assert (info.sample_rate, info.num_frames, info.num_channels, info.bits_per_sample) == \
        (44100, 11025, 2, 16)
    # The 440 Hz channel really is a 440 Hz sine at half scale.
    t = torch.arange(11025) / 44100
    expected = 0.5 * torch.sin(2 * math.pi * 440 * t)
    assert torch.corrcoef(torch.stack([wav[0], expected]))[0, 1] > 0.999


def _bad_files(tmp_path):
    missing = tmp_path / "missing.wav"
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    return [(missing, "no such file"), (corrupt, "not a readable audio file"),
            (empty, "empty")]


def test_load_errors_name_the_file(tmp_path, torchaudio):
    readers = [compat.load, lambda p: compat.apply_effects_file(p, EFFECTS)]
    if torchaudio.load is compat.load:
        readers.append(torchaudio.load)
    for path, reason in _bad_files(tmp_path):
        for reader in readers:
            with pytest.raises(compat.AudioReadError) as caught:
                reader(str(path))
            message = str(caught.value)
            assert str(path) in message and reason in message
            assert isinstance(caught.value, RuntimeError) and isinstance(caught.value, ValueError)


def test_info(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, _noise(777, 3), 8000, subtype="PCM_24")
    meta = compat.info(path)
    assert (meta.sample_rate, meta.num_frames, meta.num_channels) == (8000, 777, 3)
    assert (meta.bits_per_sample, meta.encoding) == (24, "PCM_S")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros((0, 1), dtype=np.float32), 16000)
    assert compat.info(empty).num_frames == 0  # a header read; valid
    for path, reason in _bad_files(tmp_path)[:2]:
        with pytest.raises(compat.AudioReadError, match=reason) as caught:
            compat.info(path)
        assert str(path) in str(caught.value)


def test_save_round_trips(tmp_path):
    wav = torch.from_numpy(_noise(500, 2).T.copy())
    compat.save(tmp_path / "f.wav", wav, 16000)  # float32 -> 32-bit float WAV: exact
    assert sf.info(tmp_path / "f.wav").subtype == "FLOAT"
    assert torch.equal(compat.load(tmp_path / "f.wav")[0], wav)
    compat.save(tmp_path / "i.wav", wav, 16000, bits_per_sample=16)
    assert sf.info(tmp_path / "i.wav").subtype == "PCM_16"
    assert (compat.load(tmp_path / "i.wav")[0] - wav).abs().max() <= 1 / 32768
    compat.save(tmp_path / "m.flac", wav[0], 22050)  # 1-D -> mono
    back, sr = compat.load(tmp_path / "m.flac")
    assert sr == 22050 and back.shape == (1, 500)
    assert (back[0] - wav[0]).abs().max() <= 1 / 32768
    compat.save(tmp_path / "t.wav", wav.T, 16000, channels_first=False)
    assert torch.equal(compat.load(tmp_path / "t.wav")[0], wav)


# ---------------------------------------------------------------- sox_effects


def test_sox_effects_module_is_importable(applied, torchaudio):
    from torchaudio.sox_effects import apply_effects_file, apply_effects_tensor

    module = importlib.import_module("torchaudio.sox_effects")
    assert torchaudio.sox_effects is module
    assert callable(apply_effects_file) and callable(apply_effects_tensor)
    if applied["sox_effects"]:
        assert apply_effects_file is compat.apply_effects_file


@needs_sox
@pytest.mark.parametrize("rate,seconds", [(22050, 0.5001), (44100, 0.3), (16000, 0.2)])
def test_apply_effects_file_matches_sox(tmp_path, rate, seconds):
    """Speech Commands' chain (downmix, resample, -3 dB) against the sox program."""
    src, ref = tmp_path / "in.wav", tmp_path / "ref.wav"
    _sox("-n", "-r", rate, "-c", 2, "-b", 16, src, "synth", seconds, "sine", 440, "sine", 1230,
         "vol", 0.5)
    _sox("-D", src, "-c", 1, "-r", 16000, ref, "gain", -3)
    expected = torch.from_numpy(sf.read(ref, dtype="float32")[0])
    wav, sr = compat.apply_effects_file(str(src), EFFECTS)
    assert sr == 16000 and wav.dtype == torch.float32
    assert wav.shape == (1, expected.numel())  # sox's output length, exactly
    wav = wav[0]
    rms = lambda x: x.pow(2).mean().sqrt()  # noqa: E731
    # Measured here: RMS ratio 0.9998, correlation 0.99999+, inner error 2e-4.
    assert abs(rms(wav) / rms(expected) - 1) < 0.005
    inner = slice(64, -64)  # the two resamplers differ most at the edges
    assert torch.corrcoef(torch.stack([wav[inner], expected[inner]]))[0, 1] > 0.9999
    assert (wav[inner] - expected[inner]).abs().max() < 0.005
    assert (wav - expected).abs().max() < 0.05


def test_apply_effects_tensor_semantics():
    wav = torch.tensor([[0.2, -0.4, 0.6, 0.0], [0.4, 0.0, -0.2, 0.8]])
    out, sr = compat.apply_effects_tensor(wav, 8000, [["channels", "1"]])
    assert sr == 8000 and torch.allclose(out, wav.mean(0, keepdim=True))
    out, _ = compat.apply_effects_tensor(wav, 8000, [["gain", "-3.0"]])
    assert torch.allclose(out, wav * 10 ** (-3 / 20))
    assert abs(10 ** (-3 / 20) - 0.7079) < 1e-4
    out, _ = compat.apply_effects_tensor(wav, 8000, [["norm"]])
    assert torch.isclose(out.abs().max(), torch.tensor(1.0))
    out, _ = compat.apply_effects_tensor(wav[:1], 8000, [["channels", "2"]])
    assert torch.equal(out, wav[:1].expand(2, -1))
    out, sr = compat.apply_effects_tensor(torch.randn(1, 8000), 8000, [["rate", "-v", "16k"]])
    assert sr == 16000 and out.shape == (1, 16000)
    out, _ = compat.apply_effects_tensor(wav.T, 8000, [["channels", "1"]], channels_first=False)
    assert out.shape == (4, 1)
    out, sr = compat.apply_effects_tensor(wav, 8000, [])
    assert torch.equal(out, wav) and sr == 8000


@pytest.mark.parametrize("effect", [["reverb"], ["tempo", "1.1"], ["gain", "-n"],
                                    ["channels", "3"]])
def test_unsupported_effects_are_named(effect):
    with pytest.raises(NotImplementedError, match=effect[0]):
        compat.apply_effects_tensor(torch.randn(2, 100), 16000, [effect])


# ---------------------------------------------------------------- s3prl


def test_speech_commands_expert_imports_and_reads(applied, tmp_path):
    importlib.import_module("s3prl.downstream.speech_commands.expert")
    dataset_module = importlib.import_module("s3prl.downstream.speech_commands.dataset")
    clip = tmp_path / "yes" / "abc_nohash_0.wav"
    clip.parent.mkdir()
    sf.write(clip, _noise(22050, 2), 22050)
    dataset = dataset_module.SpeechCommandsBaseDataset()
    dataset.data = [("yes", clip)]
    wav, label, fileid = dataset[0]
    assert wav.shape == (16000,) and label == 0 and fileid == "yes-abc_nohash_0.wav"


def test_cpu_rnns_run_without_onednn_and_give_the_same_result(applied):
    """The shim changes the kernel, not the maths: compare with the unpatched forward."""
    import torch

    assert applied["cpu_rnn_native"] or getattr(torch.nn.LSTM.forward, "_native_on_cpu", False)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(8, 6, bidirectional=True, batch_first=True)
    x = torch.randn(3, 11, 8)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.tensor([11, 7, 4]), batch_first=True)
    seen = []
    original = torch._VF.lstm

    def spy(*args, **kwargs):
        seen.append(torch._C._get_mkldnn_enabled())
        return original(*args, **kwargs)

    torch._VF.lstm = spy
    try:
        out, _ = lstm(packed)
    finally:
        torch._VF.lstm = original
    assert seen and not any(seen)  # oneDNN was off while the kernel ran
    assert torch._C._get_mkldnn_enabled()  # and the global flag is restored
    unpatched = torch.nn.LSTM.forward.__kwdefaults__["_forward"]
    reference, _ = unpatched(lstm, packed)
    torch.testing.assert_close(out.data, reference.data, atol=1e-5, rtol=1e-5)
