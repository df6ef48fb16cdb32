"""VoxCeleb1 (SID) layout of the tiny corpus."""

from __future__ import annotations

import collections
import re

from upstream_distill.mini_superb import TINY
from upstream_distill.mini_superb.layout import TRANSCRIPTS_SIDECAR

LINE_RE = re.compile(r"^([123]) (id\d{5})/([A-Za-z0-9_-]{11})/(\d{5})\.wav$")


def _iden_split(paths):
    entries = []
    for line in paths["voxceleb1_iden_split"].read_text(encoding="utf-8").splitlines():
        m = LINE_RE.match(line)
        assert m, line
        entries.append((int(m.group(1)), line.split(" ", 1)[1]))
    return entries


def test_iden_split_files_exist_where_s3prl_looks(tiny_paths):
    root = tiny_paths["voxceleb1"]
    entries = _iden_split(tiny_paths)
    assert entries
    for split, rel in entries:
        # s3prl resolves file_path.glob("*/wav/" + rel); split 3 lives under test/wav
        matches = list(root.glob("*/wav/" + rel))
        assert len(matches) == 1, rel
        assert matches[0].parts[-5] == ("test" if split == 3 else "dev")
    on_disk = {str(p.relative_to(p.parents[2])) for p in root.glob("*/wav/*/*/*.wav")}
    assert on_disk == {rel for _, rel in entries}


def test_speakers_consecutive_and_in_all_splits(tiny_paths, tiny_manifest):
    entries = _iden_split(tiny_paths)
    speakers = sorted({rel.split("/")[0] for _, rel in entries})
    assert speakers == [f"id{10001 + i}" for i in range(TINY.voxceleb.speakers)]
    assert tiny_manifest["tasks"]["voxceleb1"]["speakers"] == len(speakers)
    per_split = collections.defaultdict(set)
    for split, rel in entries:
        per_split[split].add(rel.split("/")[0])
        assert 0 <= int(rel[2:7]) - 10001 < 1251  # s3prl's label rule
    assert per_split[1] == per_split[2] == per_split[3] == set(speakers)


def test_splits_use_different_sentences(tiny_paths):
    root = tiny_paths["voxceleb1"]
    text = {}
    for line in (root / TRANSCRIPTS_SIDECAR).read_text(encoding="utf-8").splitlines():
        path, _, words = line.partition(" ")
        text[path.split("/wav/", 1)[1]] = words
    entries = _iden_split(tiny_paths)
    assert set(text) == {rel for _, rel in entries}
    by_split = {s: {text[rel] for split, rel in entries if split == s} for s in (1, 2, 3)}
    assert not by_split[1] & by_split[2]
    assert not by_split[1] & by_split[3]
    assert not by_split[2] & by_split[3]
