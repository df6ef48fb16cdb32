"""Phone labels from espeak-ng's own phoneme output.

espeak-ng ``-x --sep=_`` prints, for each clause, the phonemes it actually
speaks in its ASCII (Kirshenbaum-like) mnemonics: words separated by spaces,
phonemes by ``_``, stress marks (``'`` primary, ``,`` secondary, ``%``, ``=``)
glued to the front of a vowel, and pauses written ``_:``, ``_!``, ``_|`` or a
lone ``_``.  :func:`normalise_phones` turns that into whitespace-separated
phone tokens: stress marks, pauses and the zero-length linking mark ``;``
(empty in espeak's IPA output) are dropped, also where a pause is glued to
the next phoneme (``_!w`` -> ``w``); word boundaries disappear.  Where espeak
forgets a separator (``n,I``, ``nb``) the token is split at the stress mark or
into known phonemes.

The phone set is therefore espeak's English phoneme inventory over the 8
accents used, e.g. ``@ @2 @L 3: A: D I I2 N S T U V Z a a# aI aU dZ e@ eI
i: oU r- tS u: ...`` (about 60-70 symbols; ``#``, ``-``, ``:`` and digits are
part of a symbol's name).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Sequence

STRESS_MARKS = "',%="
PAUSE_MARKS = "!:|;"  # pause mnemonics (_: _! _|) can be glued to the next phoneme: "_!w"
DROPPED = {"", ":", "!", "|", "||", ";"}
_LANG_SWITCH_RE = re.compile(r"\([a-z]{2,3}(-[a-z0-9-]+)?\)", re.IGNORECASE)
_STRESS_SPLIT_RE = re.compile(r"[',%=]")

# espeak-ng 1.51's English phonemes over the 8 accents (seen on ~3,500 fortune
# sentences per accent).  Used only to split the rare tokens where espeak
# forgets a separator (en-us-nyc h-dropping glues words: "m_@_nb_'i:").
ESPEAK_EN_PHONES = frozenset(
    """0 3 3: ? @ @- @2 @5 @L A: A@ D E I I# I2 IR N O2 O: O@ OI S T U U@ V VR Z a a# aI aI2 aI3 aI@
    O aU aa b d dZ e@ eI f g h i i: i@ i@3 j k l m n n- o@ oU p r r- s t t# t2 t[ tS u: v w w# x z""".split()
)
_LONGEST = max(map(len, ESPEAK_EN_PHONES))


def _segment(token: str) -> list[str]:
    """Split a token into known phonemes, longest match first; unchanged if impossible."""
    if token in ESPEAK_EN_PHONES:
        return [token]
    out, i = [], 0
    while i < len(token):
        for n in range(min(_LONGEST, len(token) - i), 0, -1):
            if token[i : i + n] in ESPEAK_EN_PHONES:
                out.append(token[i : i + n])
                i += n
                break
        else:
            return [token]
    return out


def normalise_phones(raw: str) -> list[str]:
    """Phone tokens of espeak ``-x --sep=_`` output (any number of clause lines)."""
    phones: list[str] = []
    for line in raw.splitlines():
        line = _LANG_SWITCH_RE.sub(" ", line)
        for word in line.split():
            for token in word.split("_"):
                # a stress mark always starts a phoneme, even when espeak omits the "_"
                for part in _STRESS_SPLIT_RE.split(token):
                    part = part.lstrip(PAUSE_MARKS)
                    if part not in DROPPED:
                        phones.extend(_segment(part))
    return phones


def espeak_command(espeak_path: Path | str | None, voice: str) -> list[str]:
    cmd = ["espeak-ng"]
    if espeak_path is not None:
        cmd.append(f"--path={espeak_path}")
    return cmd + ["-v", voice]


def word_phones(words: Sequence[str], voice: str, espeak_path: Path | str | None = None) -> dict[str, list[str]]:
    """espeak's phones of each word spoken alone (lexicon entries), keyed by the word as given.

    All words go through one espeak call, one clause each; if the clause count
    does not match (it should), every word is phonemised separately.
    """
    words = list(words)
    if not words:
        return {}
    cmd = espeak_command(espeak_path, voice) + ["-q", "-x", "--sep=_"]
    text = "".join(f"{w.lower()}.\n" for w in words)
    out = subprocess.run(cmd, input=text, capture_output=True, text=True, check=True).stdout
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if len(lines) == len(words):
        return {w: normalise_phones(ln) for w, ln in zip(words, lines)}
    result = {}
    for w in words:
        out = subprocess.run(cmd, input=f"{w.lower()}.\n", capture_output=True, text=True, check=True).stdout
        result[w] = normalise_phones(out)
    return result
