"""Where every task's files lie inside a corpus folder (the layout contract).

Other parts of the project (the s3prl bridge, the benchmark runner) find the
synthetic corpora through :func:`corpus_paths`; the writers use the same
constants, so the two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_RATE = 16000
MANIFEST = "manifest.json"

LIBRISPEECH = "LibriSpeech"
LIBRISPEECH_SPLITS = ("train-clean-100", "dev-clean", "test-clean")
LEN_FOR_BUCKET = "len_for_bucket"
# low-resource ASR (-d asr_low) trains on every 10th train utterance: <train split>-1in10.csv
LOW_RESOURCE_ONE_IN = 10

VOXCELEB = "VoxCeleb1"
IEMOCAP = "IEMOCAP"
IEMOCAP_SESSIONS = 5
SPEECH_COMMANDS = "speech_commands_v0.01"
SPEECH_COMMANDS_TEST = "speech_commands_test_set_v0.01"
BACKGROUND_NOISE = "_background_noise_"

# Extra files (not part of the original corpora) that keep the text of each
# SID / ER utterance, so that checks such as "different sentences across
# splits" can be made on the corpus itself. Lines: "<relative path> <WORDS>".
TRANSCRIPTS_SIDECAR = "mini_superb_transcripts.txt"


def corpus_paths(out_dir: str | Path) -> dict[str, Path]:
    """Absolute paths of the roots and metadata files of a corpus in ``out_dir``.

    Keys:
      ``root``, ``manifest``;
      ``librispeech`` (LibriSpeech root: ``libri_root`` / ctc ``path``),
      ``librispeech_len_for_bucket`` (s3prl asr ``bucket_file`` directory),
      ``char_dict`` (asr ``dict_path``), ``phoneme_vocab`` (ctc ``vocab_file``),
      ``lexicon`` (ctc lexicon);
      ``voxceleb1`` (SID ``file_path``), ``voxceleb1_iden_split`` (SID ``meta_data``);
      ``iemocap`` (ER ``root``), ``iemocap_meta_data`` (ER ``meta_data`` directory);
      ``speech_commands`` (KS ``speech_commands_root``),
      ``speech_commands_test`` (KS ``speech_commands_test_root``).
    """
    root = Path(out_dir).expanduser().resolve()
    libri = root / LIBRISPEECH
    vox = root / VOXCELEB
    iemocap = root / IEMOCAP
    return {
        "root": root,
        "manifest": root / MANIFEST,
        "librispeech": libri,
        "librispeech_len_for_bucket": libri / LEN_FOR_BUCKET,
        "char_dict": libri / "char.dict",
        "phoneme_vocab": libri / "phoneme.txt",
        "lexicon": libri / "lexicon.txt",
        "voxceleb1": vox,
        "voxceleb1_iden_split": vox / "iden_split.txt",
        "iemocap": iemocap,
        "iemocap_meta_data": iemocap / "meta_data",
        "speech_commands": root / SPEECH_COMMANDS,
        "speech_commands_test": root / SPEECH_COMMANDS_TEST,
    }
