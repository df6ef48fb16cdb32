"""Text sources: plain-letter sentences from the Debian ``fortunes`` files, keywords.

A sentence is kept when, after dropping double quotes, it consists only of
letters, spaces, apostrophes and clause punctuation (``, ; :`` inside, ``. ! ?``
at the end), has 4-20 words, every word contains a vowel (this drops
abbreviations such as "Mr" or "St" that espeak would expand), no word starts or
ends with an apostrophe, and single-letter words are only A, I or O.  There
are no digits, so what espeak says is what the transcript says.

The synthesis text keeps the clause punctuation (it shapes the prosody) and is
lower-cased (so espeak does not read capitals as roman numerals or initials);
the transcript is the upper-case words, LibriSpeech style.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

FORTUNE_DIR = Path("/usr/share/games/fortunes")
MIN_WORDS, MAX_WORDS = 4, 20

# The ten Speech Commands keywords, in s3prl's class order.
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")

_SENTENCE_RE = re.compile(r"^[A-Za-z][A-Za-z' ,;:]*[.!?]?$")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+")
_VOWEL_RE = re.compile(r"[aeiouy]", re.IGNORECASE)
_SINGLE_LETTER_WORDS = {"A", "I", "O"}


@dataclass(frozen=True)
class Sentence:
    text: str  # what the synthesiser reads: lower case, clause punctuation kept
    words: tuple[str, ...]  # transcript words: upper case letters and apostrophes

    @property
    def transcript(self) -> str:
        return " ".join(self.words)


def clean_sentence(raw: str) -> Sentence | None:
    """The :class:`Sentence` for ``raw``, or None if it does not pass the filter."""
    s = re.sub(r"\s+", " ", raw.replace('"', "")).strip()
    if not _SENTENCE_RE.match(s):
        return None
    words = tuple(w.upper() for w in re.sub(r"[^A-Za-z' ]", " ", s).split())
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None
    for w in words:
        if w.startswith("'") or w.endswith("'") or "''" in w:
            return None
        if not _VOWEL_RE.search(w):
            return None
        if len(w) == 1 and w not in _SINGLE_LETTER_WORDS:
            return None
    text = s.lower()
    if text[-1] not in ".!?":
        text += "."
    return Sentence(text=text, words=words)


def _fortune_files(fortune_dir: Path) -> list[Path]:
    return sorted(
        p for p in fortune_dir.iterdir() if p.is_file() and p.suffix not in (".dat", ".u8") and not p.is_symlink()
    )


@functools.lru_cache(maxsize=4)
def load_sentences(fortune_dir: str | Path = FORTUNE_DIR) -> tuple[Sentence, ...]:
    """All usable sentences of the fortune files, unique by transcript, sorted by transcript."""
    fortune_dir = Path(fortune_dir)
    if not fortune_dir.is_dir():
        raise FileNotFoundError(
            f"{fortune_dir} not found: install the Debian package 'fortunes' (apt-get install fortunes)"
        )
    found: dict[tuple[str, ...], Sentence] = {}
    for path in _fortune_files(fortune_dir):
        text = path.read_text(encoding="latin-1")
        for entry in text.split("\n%\n"):
            # attribution lines ("-- Mark Twain") are not part of the quote
            lines = [ln.strip() for ln in entry.split("\n") if not ln.strip().startswith("--")]
            for raw in _SENTENCE_END_RE.split(" ".join(lines)):
                sentence = clean_sentence(raw)
                if sentence is not None and sentence.words not in found:
                    found[sentence.words] = sentence
    if not found:
        raise RuntimeError(f"no usable sentence in {fortune_dir}")
    return tuple(found[k] for k in sorted(found))


class SentencePool:
    """Hands out disjoint chunks of a seeded shuffle of the sentences.

    Tasks and splits that must not share text (LibriSpeech train/dev/test, the
    three VoxCeleb splits) each ``take`` their own chunk.
    """

    def __init__(self, sentences: Sequence[Sentence], rng: np.random.Generator):
        order = rng.permutation(len(sentences))
        self._sentences = [sentences[i] for i in order]
        self._next = 0

    @property
    def remaining(self) -> int:
        return len(self._sentences) - self._next

    def take(self, n: int) -> list[Sentence]:
        if n > self.remaining:
            raise RuntimeError(f"sentence pool exhausted: asked for {n}, {self.remaining} left")
        chunk = self._sentences[self._next : self._next + n]
        self._next += n
        return chunk

    def take_while(self, keep_going) -> list[Sentence]:
        """Take sentences one by one while ``keep_going(taken_so_far)`` is true."""
        taken: list[Sentence] = []
        while keep_going(taken):
            taken.extend(self.take(1))
        return taken
