"""LibriSpeech layout of the tiny corpus: files, transcripts, phones, lexicon, dictionaries."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import soundfile as sf

SPLITS = ("train-clean-100", "dev-clean", "test-clean")
ROW_RE = re.compile(r"^(\d+),((?:train-clean-100|dev-clean|test-clean)/(\d+)/(\d+)/\3-\4-\d{4}\.flac),(\d+),$")


def _read_keyed(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, _, rest = line.partition(" ")
        out[key] = rest
    return out


@pytest.fixture(scope="module")
def libri(tiny_paths) -> Path:
    return tiny_paths["librispeech"]


@pytest.fixture(scope="module")
def transcripts(libri) -> dict[str, dict[str, str]]:
    """split -> utterance id -> transcript."""
    return {s: {k: v for f in sorted((libri / s).rglob("*.trans.txt")) for k, v in _read_keyed(f).items()} for s in SPLITS}


@pytest.fixture(scope="module")
def phone_vocab(libri) -> list[str]:
    return (libri / "phoneme.txt").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("split", SPLITS)
def test_len_for_bucket_csv(libri, split):
    lines = (libri / "len_for_bucket" / f"{split}.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == ",file_path,length,label"
    rows = lines[1:]
    assert rows, "empty split"
    lengths, listed = [], set()
    for i, row in enumerate(rows):
        m = ROW_RE.match(row)
        assert m, row
        assert int(m.group(1)) == i and m.group(2).startswith(split + "/")
        path = libri / m.group(2)
        info = sf.info(str(path))
        assert info.frames == int(m.group(5)) and info.samplerate == 16000 and info.channels == 1
        lengths.append(int(m.group(5)))
        listed.add(m.group(2))
    assert lengths == sorted(lengths, reverse=True)
    on_disk = {str(p.relative_to(libri)) for p in (libri / split).rglob("*.flac")}
    assert on_disk == listed


def test_every_flac_has_transcript_and_phones(libri, transcripts, phone_vocab):
    vocab = set(phone_vocab)
    for split in SPLITS:
        flacs = {p.stem: p for p in (libri / split).rglob("*.flac")}
        assert set(transcripts[split]) == set(flacs)
        for trans_file in (libri / split).rglob("*.trans.txt"):
            phones = _read_keyed(trans_file.with_name(trans_file.name.replace(".trans.txt", ".phones.txt")))
            assert set(phones) == set(_read_keyed(trans_file))
            for utt, ph in phones.items():
                tokens = ph.split()
                assert tokens, utt
                assert set(tokens) <= vocab, set(tokens) - vocab
        for utt, text in transcripts[split].items():
            assert re.fullmatch(r"[A-Z']+( [A-Z']+){3,19}", text), (utt, text)
            spk, chap, _ = utt.split("-")
            assert flacs[utt].parent == libri / split / spk / chap


def test_phoneme_vocabulary_sorted_unique(phone_vocab):
    assert phone_vocab == sorted(set(phone_vocab))
    assert 30 <= len(phone_vocab) <= 90
    assert all(re.fullmatch(r"\S+", p) for p in phone_vocab)


def test_lexicon_covers_transcripts(libri, transcripts, phone_vocab):
    lexicon = {}
    for line in (libri / "lexicon.txt").read_text(encoding="utf-8").splitlines():
        word, tab, phones = line.partition("\t")
        assert tab == "\t" and phones.split(), line
        lexicon[word] = phones.split()
    words = {w for split in SPLITS for text in transcripts[split].values() for w in text.split()}
    assert words <= set(lexicon), words - set(lexicon)
    assert {p for ph in lexicon.values() for p in ph} <= set(phone_vocab)


def test_char_dict(libri, transcripts):
    raw = (libri / "char.dict").read_text(encoding="utf-8")
    assert not raw.endswith("\n")
    entries = [line.split(" ") for line in raw.split("\n")]
    assert all(len(e) == 2 and e[1].isdigit() for e in entries)
    symbols = [e[0] for e in entries]
    counts = [int(e[1]) for e in entries]
    assert "|" in symbols and len(symbols) == len(set(symbols)) == 28
    assert counts == sorted(counts, reverse=True)
    chars = {c for split in SPLITS for text in transcripts[split].values() for c in text if c != " "}
    assert chars <= set(symbols)
    train_chars = {c for text in transcripts["train-clean-100"].values() for c in text if c != " "}
    assert all(int(n) > 0 for s, n in entries if s in train_chars)


def test_split_speakers_disjoint(libri):
    speakers = {s: {p.name for p in (libri / s).iterdir() if p.is_dir()} for s in SPLITS}
    assert all(speakers.values())
    assert not speakers[SPLITS[0]] & speakers[SPLITS[1]]
    assert not speakers[SPLITS[0]] & speakers[SPLITS[2]]
    assert not speakers[SPLITS[1]] & speakers[SPLITS[2]]


def test_split_sentences_disjoint(transcripts):
    texts = {s: set(transcripts[s].values()) for s in SPLITS}
    assert not texts[SPLITS[0]] & (texts[SPLITS[1]] | texts[SPLITS[2]])
