"""Preset sizes (checked on the spec constants and on plans, without building mini)."""

from __future__ import annotations

import numpy as np

from upstream_distill.mini_superb import MINI, PRESETS, TINY, librispeech, voxceleb
from upstream_distill.mini_superb.seeds import rng_for
from upstream_distill.mini_superb.text import SentencePool, load_sentences
from upstream_distill.mini_superb.voices import FLITE_VOICES


def test_presets_registered():
    assert PRESETS == {"tiny": TINY, "mini": MINI}


def test_mini_voxceleb_has_20_to_30_speakers():
    assert 20 <= MINI.voxceleb.speakers <= 30
    assert MINI.voxceleb.flite_speakers <= len(FLITE_VOICES)
    assert all(n >= 1 for n in MINI.voxceleb.utterances)


def test_mini_librispeech_plans_over_two_hours_mostly_train():
    assert sum(MINI.librispeech.minutes) >= 120
    assert MINI.librispeech.minutes[0] > 0.8 * sum(MINI.librispeech.minutes)
    pool = SentencePool(load_sentences(), rng_for(0, "sentences"))
    plan = librispeech.plan(MINI.librispeech, pool, seed=0)
    seconds = sum(
        librispeech.estimated_seconds(u.sentence, plan.voices[u.speaker].rate) for u in plan.utterances
    )
    assert seconds / 3600 >= 2.0


def test_tiny_is_small():
    assert sum(TINY.librispeech.minutes) < 5
    assert TINY.voxceleb.speakers * sum(TINY.voxceleb.utterances) <= 50
    assert TINY.speech_commands.test_clips_per_class <= 5


def test_plans_depend_on_the_seed():
    def texts(seed):
        pool = SentencePool(load_sentences(), rng_for(seed, "sentences"))
        p = voxceleb.plan(TINY.voxceleb, pool, seed)
        return [c.sentence.words for c in p.clips], [v.summary() for v in p.voices.values()]

    assert texts(3) == texts(3)
    assert texts(3) != texts(4)


def test_voxceleb_plan_splits_use_different_sentences():
    pool = SentencePool(load_sentences(), np.random.default_rng(0))
    p = voxceleb.plan(MINI.voxceleb, pool, seed=0)
    by_split = {s: {c.sentence.words for c in p.clips if c.split == s} for s in (1, 2, 3)}
    assert not by_split[1] & by_split[2] and not by_split[1] & by_split[3] and not by_split[2] & by_split[3]
    assert len(p.voices) == MINI.voxceleb.speakers
