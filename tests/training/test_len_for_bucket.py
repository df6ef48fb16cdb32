"""Length CSVs in the format s3prl's asr expert reads (pandas, file_path + length)."""
import numpy as np
import pandas as pd
import pytest
import soundfile

from upstream_distill.training.len_for_bucket import main, one_in


def test_lengths_are_written_longest_first_relative_to_the_root(tmp_path):
    root = tmp_path / "LibriSpeech"
    lengths = {"1-2-0000": 1600, "1-2-0001": 4800, "3-4-0000": 3200}
    for utt, n in lengths.items():
        spk, chap, _ = utt.split("-")
        folder = root / "dev-clean" / spk / chap
        folder.mkdir(parents=True, exist_ok=True)
        soundfile.write(folder / f"{utt}.flac", np.zeros(n, dtype=np.float32), 16000)
    main(["-i", str(root), "-o", str(tmp_path / "len")])
    text = (tmp_path / "len" / "dev-clean.csv").read_text()
    assert text.splitlines()[0] == ",file_path,length,label"
    table = pd.read_csv(tmp_path / "len" / "dev-clean.csv")
    assert list(table["length"]) == [4800, 3200, 1600]
    assert table["file_path"][0] == "dev-clean/1/2/1-2-0001.flac"
    assert (root / table["file_path"][2]).is_file()


def test_unreadable_audio_and_missing_subset_name_the_path(tmp_path):
    root = tmp_path / "LibriSpeech"
    (root / "dev-clean" / "1" / "2").mkdir(parents=True)
    bad = root / "dev-clean" / "1" / "2" / "1-2-0000.flac"
    bad.write_bytes(b"fLaC but not really")
    with pytest.raises(RuntimeError, match=str(bad)):
        main(["-i", str(root), "-o", str(tmp_path / "len")])
    with pytest.raises(FileNotFoundError, match="test-clean"):
        main(["-i", str(root), "-o", str(tmp_path / "len"), "-s", "test-clean"])


def test_one_in_n_keeps_every_nth_utterance_in_path_order_longest_first(tmp_path):
    rows = [(f"train/{spk}/1/{spk}-1-{i:04d}.flac", 1000 + 7 * i + spk) for spk in (1, 2) for i in range(10)]
    kept = one_in(rows, 5)
    assert [path for path, _ in kept] == sorted(
        ["train/1/1/1-1-0000.flac", "train/1/1/1-1-0005.flac", "train/2/1/2-1-0000.flac", "train/2/1/2-1-0005.flac"],
        key=lambda p: -dict(rows)[p])
    assert {p.split("/")[1] for p, _ in kept} == {"1", "2"}  # every speaker keeps some speech
    with pytest.raises(ValueError):
        one_in(rows, 0)
