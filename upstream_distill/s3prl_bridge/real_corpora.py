"""The real corpora of ``--preset superb``: where each lies under ``--data-root``, and the flag that moves it.

``--preset superb`` runs the SUPERB paper settings (``downstream_configs/<task>.yaml``) on the real corpora.
Its configs (``downstream_configs/superb/``) name every corpus path by a placeholder (``${librispeech}``,
``${len_for_bucket}``, ...); one record per placeholder here says its standard place, the flag that puts it
elsewhere, which tasks read it and how to get it. The standard places are the names the archives extract
to (``LibriSpeech``, ``speech_commands_v0.01``, ...), so one folder of downloads serves every task:

    DATA_ROOT/LibriSpeech/                      train-clean-100/ dev-clean/ test-clean/   (PR, ASR)
    DATA_ROOT/len_for_bucket/                   <subset>.csv length files               (ASR)
    DATA_ROOT/lexicon/                          the two LibriSpeech g2p lexicons        (PR)
    DATA_ROOT/VoxCeleb1/                        dev/wav/ test/wav/ iden_split.txt       (SID)
    DATA_ROOT/IEMOCAP/                          Session1..5/ meta_data/                 (ER)
    DATA_ROOT/speech_commands_v0.01/                                                    (KS)
    DATA_ROOT/speech_commands_test_set_v0.01/                                           (KS)

A file that belongs to a corpus (VoxCeleb1's split file, IEMOCAP's fold lists) lies inside that corpus's
folder unless its own flag says otherwise, so ``--voxceleb1 /mnt/vox`` also moves the split file. A missing
path is reported with the flag that set it (``describe_missing``), not with a config key.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from upstream_distill.core.yaml_config import substitute

__all__ = ["CORPUS_PARTS", "CorpusPart", "RealCorpora", "add_corpus_flags", "corpus_flags_given", "expected_once"]

_ASR = ("asr", "asr_low", "asr_low_ft")


@dataclass(frozen=True)
class CorpusPart:
    name: str  # the placeholder ${name} in downstream_configs/superb/; the flag is --name with dashes
    default: str  # its place under the parent's folder (or under --data-root)
    parent: Optional[str]  # the part it lies inside by default; None: --data-root
    tasks: Tuple[str, ...]  # the tasks that read it
    what: str  # what it is and where it comes from

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        """Its argparse attribute (prefixed: ``--lexicon`` must not clash with another tool's ``lexicon``)."""
        return f"corpus_{self.name}"


CORPUS_PARTS: Tuple[CorpusPart, ...] = (
    CorpusPart("librispeech", "LibriSpeech", None, ("pr",) + _ASR,
               "LibriSpeech (openslr.org/12) extracted: train-clean-100/, dev-clean/, test-clean/"),
    CorpusPart("len_for_bucket", "len_for_bucket", None, _ASR,
               "ASR's length files <subset>.csv: python -m upstream_distill.training.len_for_bucket "
               "-i LIBRISPEECH -o DIR -s train-clean-100 dev-clean test-clean --one-in 10"),
    CorpusPart("lexicon", "lexicon", None, ("pr",),
               "PR's LibriSpeech g2p lexicons librispeech-lexicon-200k-g2p.txt and "
               "librispeech-lexicon-allothers-g2p.txt (s3prl's git repository, downstream/ctc/lexicon/)"),
    CorpusPart("voxceleb1", "VoxCeleb1", None, ("sid",), "VoxCeleb1 with dev/wav/ and test/wav/ (id10001 ... id11251)"),
    CorpusPart("voxceleb1_split", "iden_split.txt", "voxceleb1", ("sid",),
               "VoxCeleb1's official identification split iden_split.txt"),
    CorpusPart("iemocap", "IEMOCAP", None, ("er",), "IEMOCAP_full_release (Session1/ ... Session5/)"),
    CorpusPart("iemocap_meta", "meta_data", "iemocap", ("er",),
               "the fold lists SessionN/{train,test}_meta_data.json, written by s3prl's "
               "downstream/emotion/IEMOCAP_preprocess.py IEMOCAP"),
    CorpusPart("speech_commands", "speech_commands_v0.01", None, ("ks",),
               "Speech Commands v0.01 (speech_commands_v0.01.tar.gz) extracted"),
    CorpusPart("speech_commands_test", "speech_commands_test_set_v0.01", None, ("ks",),
               "its test set (speech_commands_test_set_v0.01.tar.gz) extracted"),
)
PART: Dict[str, CorpusPart] = {part.name: part for part in CORPUS_PARTS}
DATA_ROOT_FLAG = "--data-root"
_EXPECTED = " Expected: "


def add_corpus_flags(parser: argparse.ArgumentParser) -> None:
    """``--data-root DIR`` and one flag per corpus part, each defaulting to its place under the data root."""
    group = parser.add_argument_group(
        "real corpora (--preset superb)",
        f"{DATA_ROOT_FLAG} DIR holds every corpus under its standard name; a flag below puts one elsewhere")
    group.add_argument(DATA_ROOT_FLAG, dest="data_root", type=Path, metavar="DIR",
                       help="the folder holding the corpora: " + ", ".join(
                           part.default for part in CORPUS_PARTS if part.parent is None))
    for part in CORPUS_PARTS:
        under = f"{part.parent.upper()}/{part.default}" if part.parent else f"DATA_ROOT/{part.default}"
        group.add_argument(part.flag, dest=part.dest, type=Path, metavar="PATH",
                           help=f"{part.what} (default: {under})")


def corpus_flags_given(args: argparse.Namespace) -> List[str]:
    """The real-corpus flags on a command line (to refuse them outside ``--preset superb``)."""
    named = [DATA_ROOT_FLAG] if getattr(args, "data_root", None) else []
    return named + [part.flag for part in CORPUS_PARTS if getattr(args, part.dest, None)]


def _absolute(path: Path) -> Path:
    # runs are subprocesses with their own working directory: a relative path would name another folder
    return Path(path).expanduser().resolve()


@dataclass(frozen=True)
class RealCorpora:
    """Where this command's real corpora are: the data root, and the parts given by their own flags."""

    data_root: Optional[Path] = None
    given: Mapping[str, Path] = field(default_factory=dict)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "RealCorpora":
        given = {part.name: _absolute(getattr(args, part.dest)) for part in CORPUS_PARTS
                 if getattr(args, part.dest, None)}
        return cls(_absolute(args.data_root) if args.data_root else None, given)

    def path(self, name: str) -> Optional[Path]:
        """The part's path: its own flag, else its place inside its parent or under the data root."""
        if name in self.given:
            return self.given[name]
        part = PART[name]
        base = self.path(part.parent) if part.parent else self.data_root
        return None if base is None else base / part.default

    def replacements(self) -> Dict[str, str]:
        """Placeholder -> path, for the parts that have one (the others stay ``${name}``, named when read)."""
        return {name: str(path) for name in PART if (path := self.path(name)) is not None}

    def resolve(self, config: dict) -> dict:
        return substitute(config, self.replacements())

    def flags(self) -> List[str]:
        """The command-line flags that give these corpora to ``run_downstream.py``."""
        flags = [DATA_ROOT_FLAG, str(self.data_root)] if self.data_root else []
        for name, path in self.given.items():
            flags += [PART[name].flag, str(path)]
        return flags

    def how_set(self, name: str) -> str:
        """Which flag gave a part its path, and which flag moves it."""
        part = PART[name]
        if name in self.given:
            return f"given by {part.flag}"
        if part.parent:
            return f"inside {PART[part.parent].flag}'s folder; {part.flag} PATH puts it elsewhere"
        return f"{DATA_ROOT_FLAG}'s {part.default}/; {part.flag} PATH puts it elsewhere"

    def owner(self, path: Path) -> Optional[str]:
        """The part a path is, or lies in (the innermost one): the flag that decides it. A path that no part
        holds came from the config or from -o, and is named by its key instead."""
        text = str(path)
        for part in CORPUS_PARTS:
            if "${" + part.name + "}" in text:
                return part.name
        found = [(len(base.parts), name) for name in PART if (base := self.path(name)) is not None
                 and (Path(path) == base or base in Path(path).parents)]
        return max(found)[1] if found else None

    def describe_missing(self, path: Path, what: str = "") -> Optional[str]:
        """The problem with a missing path, named with its flag (None: no part holds it)."""
        name = self.owner(path)
        if name is None:
            return None
        part = PART[name]
        subject = f"{what} " if what else ""
        if self.path(name) is None:
            return (f"{part.flag}: not given ({part.what}, read by {', '.join(part.tasks)}); "
                    f"{DATA_ROOT_FLAG} DIR holds it as DIR/{self._default_under_root(name)}, or give {part.flag} PATH")
        return f"{part.flag}: {subject}{path} does not exist ({self.how_set(name)}).{_EXPECTED}{part.what}"

    def _default_under_root(self, name: str) -> str:
        part = PART[name]
        return f"{self._default_under_root(part.parent)}/{part.default}" if part.parent else part.default


def expected_once(problems: List[str]) -> List[str]:
    """The problems, each part's "Expected: ..." said at its first missing path only (two lexicons, three
    length files: one explanation)."""
    seen, out = set(), []
    for line in problems:
        head, sep, expected = line.partition(_EXPECTED)
        out.append(head if sep and expected in seen else line)
        seen.add(expected)
    return out
