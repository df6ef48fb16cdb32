"""LibriSpeech phone-recognition (SUPERB PR) corpus reader for s3prl's ``ctc`` task.

Why this exists: s3prl's ``downstream/ctc/data.py`` imports
``.corpus.libriphone.LibriPhoneDataset`` when a config says
``corpus.name: libriphone``, but the maintained PyPI fork (espnet-s3prl)
ships no ``downstream/ctc/corpus/`` package, so the PR task fails when its
first dataloader is built.  :class:`LibriPhoneDataset` is our own
implementation of the reader's contract, and :func:`install` registers it
under s3prl's module name without touching site-packages.

Contract (as ``downstream/ctc/data.py`` uses it): the expert calls
``LibriPhoneDataset(subsets, tokenizer, bucket_size, **corpus)`` where
``corpus`` holds the config keys (``path``, ``lexicon``, ``train``/``dev``/
``test``, ``num_workers``, and ``ratio``/``offset`` for train; unknown keys
are ignored).  Items feed ``collect_audio_batch``: with ``bucket_size > 1``
(train with bucketing) an item is a list of ``bucket_size`` consecutive
``(flac_path, token_ids)`` pairs (one overlapping window per index; the
collate function halves it when its first file exceeds 300,000 samples),
otherwise a single pair.

Semantics kept from s3prl's reader:

* audio: every ``*.flac`` under ``path/<subset>`` for each subset listed;
* words: the utterance's line in ``<spk>-<chap>.trans.txt`` beside the flac;
* phones: each word looked up in the merged lexicons (``WORD PH PH ...``
  lines); when a word has several pronunciations the first one, in
  lexicon-list then file order, wins;
* labels: ``tokenizer.encode(" ".join(phones))`` (s3prl's WordTextEncoder
  appends ``<eos>``);
* order: by phone count, longest first (``ascending: True`` reverses).

Differences, all on error paths or for determinism: a word missing from
every lexicon raises MissingWordError (a KeyError) naming the word, the
utterance and the transcript file (s3prl raised a bare KeyError); a lexicon
phone outside the vocabulary
raises ValueError naming it (s3prl asserted); files are sorted by path
before the stable sort by length; a subset with fewer utterances than
``bucket_size`` yields the whole subset as one batch.

Extension: with ``use_spoken_phones: True`` in the corpus config, phones are
read from ``<spk>-<chap>.phones.txt`` beside the ``.trans.txt`` (lines
``UTTID PH PH ...``) instead of the lexicon.  The project's synthetic corpus
records there the phones actually spoken, which a lexicon lookup cannot
recover; ``lexicon`` may then be omitted.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import os
import sys
import types
from pathlib import Path

from torch.utils.data import Dataset

__all__ = ["LibriPhoneDataset", "MissingWordError", "install", "read_lexicons"]

_LOG = logging.getLogger(__name__)
_TARGET = "s3prl.downstream.ctc.corpus.libriphone"


class MissingWordError(KeyError):
    """A transcript word is in none of the lexicons (KeyError, as in s3prl).

    ``str()`` gives the plain message (KeyError would repr-quote it).
    """

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def _check_phones(phones, tokenizer, where: str) -> None:
    vocab = getattr(tokenizer, "_vocab2idx", None)
    if vocab is None:
        return
    unknown = sorted({p for p in phones if p not in vocab})
    if unknown:
        raise ValueError(f"{where}: phone(s) {unknown} are not in the tokenizer vocabulary")


def read_lexicons(lexicon_files, tokenizer=None) -> dict:
    """Merge lexicon files into ``{WORD: [phones]}``; first pronunciation wins.

    Files are read in list order; each non-blank line is ``WORD PH PH ...``
    (tab or space separated).  With a ``tokenizer``, every phone must be in
    its vocabulary (ValueError naming file, line and phone otherwise).
    """
    if isinstance(lexicon_files, (str, os.PathLike)):
        lexicon_files = [lexicon_files]
    word2phones: dict = {}
    extra = 0
    for lexicon_file in lexicon_files:
        with open(lexicon_file, encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                fields = line.split()
                if not fields:
                    continue
                word, phones = fields[0], fields[1:]
                if tokenizer is not None:
                    _check_phones(phones, tokenizer, f"{lexicon_file}:{number} ({word})")
                if word in word2phones:
                    extra += 1
                else:
                    word2phones[word] = phones
    if extra:
        _LOG.info("LibriPhone: %d alternative pronunciations ignored "
                  "(the first one of each word is used)", extra)
    return word2phones


def _read_table(path: Path) -> dict:
    """``{UTTID: rest of line split on whitespace}`` for a trans/phones file."""
    table = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            if fields:
                table[fields[0]] = fields[1:]
    return table


class LibriPhoneDataset(Dataset):
    """LibriSpeech utterances with phone-token labels (see module docstring).

    Args:
        split: list of subset folder names under ``path`` (e.g. ``["dev-clean"]``).
        tokenizer: s3prl text encoder (``encode``; ``_vocab2idx`` if present
            is used to validate phones).
        bucket_size: utterances per training item; 1 gives single pairs.
        path: LibriSpeech root.
        lexicon: list of lexicon files (required unless ``use_spoken_phones``).
        ascending: sort shortest first instead of longest first.
        use_spoken_phones: read ``<spk>-<chap>.phones.txt`` instead of the lexicon.
        **kwargs: the remaining corpus config keys, ignored.
    """

    def __init__(self, split, tokenizer, bucket_size, path, lexicon=None,
                 ascending=False, use_spoken_phones=False, **kwargs):
        self.bucket_size = int(bucket_size)
        if isinstance(split, str):
            split = [split]
        word2phones = None
        if not use_spoken_phones:
            if not lexicon:
                raise ValueError("LibriPhone: corpus.lexicon is required unless "
                                 "use_spoken_phones is True")
            word2phones = read_lexicons(lexicon, tokenizer)

        files = []
        for subset in split:
            found = sorted(Path(path, subset).rglob("*.flac"))
            if not found:
                raise FileNotFoundError(f"LibriPhone: no *.flac files under {Path(path, subset)}")
            files += found

        tables: dict = {}  # transcript file -> {uttid: fields}, each read once
        labels = []
        for flac in files:
            utt = flac.name.split(".")[0]
            prefix = utt.rsplit("-", 1)[0]
            source = flac.with_name(prefix + (".phones.txt" if use_spoken_phones else ".trans.txt"))
            if source not in tables:
                if not source.is_file():
                    raise FileNotFoundError(f"LibriPhone: {source} (needed for {flac}) does not exist")
                tables[source] = _read_table(source)
            fields = tables[source].get(utt)
            if fields is None:
                raise KeyError(f"LibriPhone: utterance {utt} has no line in {source}")
            if use_spoken_phones:
                phones = fields
                _check_phones(phones, tokenizer, f"{source} ({utt})")
            else:
                phones = []
                for word in fields:
                    if word not in word2phones:
                        raise MissingWordError(f"LibriPhone: word {word!r} of utterance {utt} in "
                                       f"{source} is in none of the lexicons {list(lexicon)}")
                    phones += word2phones[word]
            labels.append(tokenizer.encode(" ".join(phones)))

        order = sorted(range(len(files)), key=lambda i: len(labels[i]), reverse=not ascending)
        self.file_list = [files[i] for i in order]
        self.text = [labels[i] for i in order]

    def __len__(self):
        return len(self.file_list)

    def __getitem__(self, index):
        if self.bucket_size > 1:
            start = max(0, min(index, len(self.file_list) - self.bucket_size))
            stop = start + self.bucket_size
            return list(zip(self.file_list[start:stop], self.text[start:stop]))
        return self.file_list[index], self.text[index]


def install() -> bool:
    """Make ``s3prl.downstream.ctc.corpus.libriphone`` importable.

    Registers this module under that name (and an empty namespace for
    ``s3prl.downstream.ctc.corpus`` if s3prl has no such package) in
    ``sys.modules``; nothing is written to site-packages.  Idempotent.
    Returns True when our reader is the one s3prl will use, False when s3prl
    ships its own ``corpus/libriphone.py`` (a git install), which is then
    left alone.
    """
    current = sys.modules.get(_TARGET)
    if current is not None:
        return current is sys.modules[__name__]
    import s3prl.downstream.ctc as ctc  # the parent package must exist first

    try:
        real = importlib.util.find_spec(_TARGET)
    except ModuleNotFoundError as err:  # no corpus package at all (the PyPI fork)
        if err.name != _TARGET.rsplit(".", 1)[0]:
            raise
        real = None
    if real is not None:
        return False  # a git install ships the real reader: keep it
    package_name = _TARGET.rsplit(".", 1)[0]
    try:
        package = importlib.import_module(package_name)
    except ModuleNotFoundError as err:
        if err.name != package_name:
            raise
        package = types.ModuleType(package_name, "Namespace registered by "
                                   "upstream_distill.s3prl_bridge.libriphone.install().")
        package.__spec__ = importlib.machinery.ModuleSpec(package_name, None, is_package=True)
        package.__path__ = []
        sys.modules[package_name] = package
        ctc.corpus = package
    sys.modules[_TARGET] = sys.modules[__name__]
    package.libriphone = sys.modules[__name__]
    return True
