"""The PR corpus reader, driven through s3prl's real ctc data path and expert.

A tiny LibriSpeech-layout corpus is written to a temporary folder; s3prl's
own tokenizer (`load_text_encoder`), `load_dataset`/`collect_audio_batch`
and `DownstreamExpert` consume it, so the test checks the contract s3prl
relies on rather than our reading of it.
"""

import copy
import importlib
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from upstream_distill.s3prl_bridge import libriphone, prepare_s3prl

VOCAB = "SIL SPN AH0 AH1 AE1 AO1 B D DH EH1 EY1 G IY0 K N R T".split()
LEXICON_1 = "THE\tDH AH0\nA\tAH0\nA\tEY1\nCAT\tK AE1 T\n\nDOG\tD AO1 G\n"
LEXICON_2 = "THE DH IY0\nBED B EH1 D\nRUN R AH1 N\n"
LONG = 300_100  # > 300,000 samples: collect_audio_batch halves a train batch led by it

# subset -> utterance id -> (words, phones actually spoken, samples)
CORPUS = {
    "dev-clean": {
        "84-121-0000": ("THE CAT", "DH IY0 K AE1 T", 1600),
        "84-121-0001": ("A DOG RUN", "EY1 D AO1 G R AH1 N", 2400),
        "84-122-0000": ("BED", "B EH1 D", 800),
    },
    "train-clean-100": {
        "19-198-0000": ("THE CAT THE DOG A BED RUN", "DH AH0 K AE1 T DH AH0 D AO1 G AH0 B EH1 D "
                        "R AH1 N", LONG),
        "19-198-0001": ("CAT", "K AE1 T", 900),
        "19-198-0002": ("DOG RUN", "D AO1 G R AH1 N", 1500),
        "19-198-0003": ("A BED", "AH0 B EH1 D", 1100),
        "19-198-0004": ("THE CAT RUN", "DH AH0 K AE1 T R AH1 N", 2000),
        "19-198-0005": ("BED", "B EH1 D", 700),
    },
}
# What the lexicons give (first pronunciation wins: THE -> DH AH0, A -> AH0).
WORD_PHONES = {"THE": "DH AH0", "A": "AH0", "CAT": "K AE1 T", "DOG": "D AO1 G",
               "BED": "B EH1 D", "RUN": "R AH1 N"}


def lexicon_phones(words):
    return " ".join(WORD_PHONES[w] for w in words.split())


def write_corpus(root: Path, corpus=CORPUS):
    rng = np.random.default_rng(0)
    for subset, utterances in corpus.items():
        by_chapter = defaultdict(list)
        for utt, entry in utterances.items():
            by_chapter[tuple(utt.split("-")[:2])].append((utt, *entry))
        for (spk, chap), entries in by_chapter.items():
            folder = root / subset / spk / chap
            folder.mkdir(parents=True)
            trans, phones = [], []
            for utt, words, spoken, samples in entries:
                audio = 0.1 * rng.standard_normal(samples).astype(np.float32)
                sf.write(folder / f"{utt}.flac", audio, 16000)
                trans.append(f"{utt} {words}\n")
                phones.append(f"{utt} {spoken}\n")
            (folder / f"{spk}-{chap}.trans.txt").write_text("".join(trans))
            (folder / f"{spk}-{chap}.phones.txt").write_text("".join(phones))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """The s3prl `corpus:` config block for the tiny corpus (copy before use)."""
    prepare_s3prl()
    base = tmp_path_factory.mktemp("libriphone")
    write_corpus(base / "LibriSpeech")
    (base / "lex1.txt").write_text(LEXICON_1)
    (base / "lex2.txt").write_text(LEXICON_2)
    (base / "phoneme.txt").write_text("\n".join(VOCAB) + "\n")
    return {"name": "libriphone", "path": str(base / "LibriSpeech"),
            "lexicon": [str(base / "lex1.txt"), str(base / "lex2.txt")],
            "train": ["train-clean-100"], "dev": ["dev-clean"], "test": ["dev-clean"],
            "bucketing": True, "batch_size": 4, "num_workers": 0}


@pytest.fixture(scope="module")
def tokenizer(corpus):
    from s3prl.downstream.ctc.text import load_text_encoder

    return load_text_encoder(mode="word", vocab_file=str(Path(corpus["path"]).parent / "phoneme.txt"))


def load(split, tokenizer, corpus, **overrides):
    from s3prl.downstream.ctc.data import load_dataset

    return load_dataset(split, tokenizer, {**copy.deepcopy(corpus), **overrides})


def decode_all(loader, tokenizer):
    """{utterance id: (decoded phones, audio samples)} over every batch."""
    seen = {}
    for audio, labels, names in loader:
        for wav, label, name in zip(audio, labels, names):
            seen[name] = (tokenizer.decode(label.tolist()), len(wav))
    return seen


def test_install_registers_the_reader_once():
    assert prepare_s3prl()["libriphone"] is True
    assert libriphone.install() is True
    from s3prl.downstream.ctc.corpus.libriphone import LibriPhoneDataset

    assert LibriPhoneDataset is libriphone.LibriPhoneDataset
    import s3prl.downstream.ctc.corpus.libriphone as registered

    assert registered is libriphone


def test_dev_labels_come_from_the_lexicons(tokenizer, corpus):
    assert tokenizer.vocab_size == len(VOCAB) + 3  # <pad>, <eos>, <unk> first
    loader = load("dev", tokenizer, corpus)
    assert loader.batch_size == 1
    dataset = loader.dataset
    # Longest phone sequence first, single (path, ids) items with <eos> appended.
    assert [p.name for p in dataset.file_list] == [
        "84-121-0001.flac", "84-121-0000.flac", "84-122-0000.flac"]
    path, ids = dataset[0]
    assert isinstance(path, Path) and ids[-1] == tokenizer.eos_idx
    expected = {utt: (lexicon_phones(words), samples)
                for utt, (words, _, samples) in CORPUS["dev-clean"].items()}
    assert decode_all(loader, tokenizer) == expected
    assert expected["84-121-0000"][0] == "DH AH0 K AE1 T"  # first lexicon wins for THE


def test_spoken_phones_replace_the_lexicon(tokenizer, corpus):
    no_lexicon = {k: v for k, v in corpus.items() if k != "lexicon"}
    loader = load("test", tokenizer, no_lexicon, use_spoken_phones=True)
    expected = {utt: (spoken, samples)
                for utt, (_, spoken, samples) in CORPUS["dev-clean"].items()}
    assert decode_all(loader, tokenizer) == expected


def test_train_buckets_through_the_real_loader(tokenizer, corpus):
    loader = load("train", tokenizer, corpus, num_workers=2)
    dataset = loader.dataset
    assert loader.batch_size == 1 and len(dataset) == 6
    # Overlapping windows of 4 consecutive utterances, clamped at the end.
    assert [len(dataset[i]) for i in range(6)] == [4] * 6
    assert dataset[5] == dataset[2]
    assert [p.name.split(".")[0] for p, _ in dataset[0]] == [
        "19-198-0000", "19-198-0004", "19-198-0002", "19-198-0003"]
    expected = {utt: (lexicon_phones(words), samples)
                for utt, (words, _, samples) in CORPUS["train-clean-100"].items()}
    sizes = []
    for audio, labels, names in loader:
        sizes.append(len(names))
        # A batch led by the > 300k-sample utterance is halved by collect_audio_batch.
        assert len(names) == (2 if "19-198-0000" in names else 4)
        assert list(map(len, audio)) == sorted(map(len, audio), reverse=True)
        for wav, label, name in zip(audio, labels, names):
            assert (tokenizer.decode(label.tolist()), len(wav)) == expected[name]
    assert sorted(sizes) == [2, 4, 4, 4, 4, 4]


def test_missing_word_names_word_and_transcript(tmp_path, tokenizer, corpus):
    write_corpus(tmp_path, {"dev-clean": {"7-8-0000": ("THE ZEBRA", "DH AH0", 400)}})
    with pytest.raises(KeyError) as caught:
        load("dev", tokenizer, corpus, path=str(tmp_path))
    message = str(caught.value)
    assert "'ZEBRA'" in message and str(tmp_path / "dev-clean/7/8/7-8.trans.txt") in message
    assert isinstance(caught.value, libriphone.MissingWordError)


def test_phones_outside_the_vocabulary_are_rejected(tmp_path, tokenizer, corpus):
    bad_lexicon = tmp_path / "bad.txt"
    bad_lexicon.write_text("CAT K AE1 T\nTHE DH XX9\n")
    with pytest.raises(ValueError, match=r"bad\.txt:2 .*XX9"):
        load("dev", tokenizer, corpus, lexicon=[str(bad_lexicon)])
    write_corpus(tmp_path / "c", {"dev-clean": {"7-8-0000": ("THE", "DH QQ1", 400)}})
    with pytest.raises(ValueError, match=r"7-8\.phones\.txt.*QQ1"):
        load("dev", tokenizer, corpus, path=str(tmp_path / "c"), use_spoken_phones=True)


def test_missing_inputs_are_reported(tmp_path, tokenizer, corpus):
    with pytest.raises(FileNotFoundError, match="no \\*.flac"):
        load("dev", tokenizer, corpus, path=str(tmp_path))
    with pytest.raises(ValueError, match="lexicon is required"):
        load("dev", tokenizer, {k: v for k, v in corpus.items() if k != "lexicon"})


def test_install_leaves_a_real_reader_alone(tmp_path, monkeypatch):
    """With a git install of s3prl (corpus/libriphone.py on disk) nothing is registered."""
    import s3prl.downstream.ctc as ctc

    real = tmp_path / "corpus"
    real.mkdir()
    (real / "__init__.py").write_text("")
    (real / "libriphone.py").write_text("LibriPhoneDataset = 'real'\n")
    names = ("s3prl.downstream.ctc.corpus", "s3prl.downstream.ctc.corpus.libriphone")
    saved = {name: sys.modules.pop(name) for name in names}
    saved_attr = ctc.__dict__.pop("corpus")
    monkeypatch.setattr(ctc, "__path__", [*ctc.__path__, str(tmp_path)])
    try:
        assert libriphone.install() is False
        module = importlib.import_module(names[1])
        assert module.LibriPhoneDataset == "real"
        assert libriphone.install() is False
    finally:
        for name in names:
            sys.modules.pop(name, None)
        sys.modules.update(saved)
        ctc.corpus = saved_attr
    assert libriphone.install() is True


def test_real_expert_trains_and_scores_one_step(tmp_path, corpus):
    from s3prl.downstream.ctc.expert import DownstreamExpert

    vocab_file = str(Path(corpus["path"]).parent / "phoneme.txt")
    config = {
        "corpus": copy.deepcopy(corpus),
        "text": {"mode": "word", "vocab_file": vocab_file},
        "model": {"project_dim": 16, "zero_infinity": True, "select": "FrameLevel"},
        "save_best_on": ["dev"], "metric_higher_better": False, "metric": ["per"],
    }
    torch.manual_seed(0)
    expert = DownstreamExpert(upstream_dim=8, upstream_rate=160, downstream_expert=config,
                              expdir=str(tmp_path))
    audio, labels, names = next(iter(expert.get_dataloader("train")))
    features = [torch.randn(len(wav) // 160, 8) for wav in audio]
    records = defaultdict(list)
    loss = expert("train", features, labels, names, records)
    loss.backward()
    assert torch.isfinite(loss) and expert.projector.weight.grad is not None

    expert.corpus["num_workers"] = 0  # load_dataset popped it; s3prl would fall back to 12
    records = defaultdict(list)
    with torch.no_grad():
        for audio, labels, names in expert.get_dataloader("dev"):
            expert("dev", [torch.randn(len(w) // 160, 8) for w in audio], labels, names, records)

    class Logger:
        def add_scalar(self, *args, **kwargs):
            pass

    assert expert.log_records("dev", records, Logger(), global_step=1) == ["dev-best.ckpt"]
    refs = dict(line.split(" ", 1) for line in
                (tmp_path / "dev-ref.ark").read_text().splitlines())
    assert refs == {utt: lexicon_phones(words)
                    for utt, (words, _, _) in CORPUS["dev-clean"].items()}
