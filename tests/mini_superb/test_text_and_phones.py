"""Text filtering, phone normalisation and stable seeding (no synthesis)."""

from __future__ import annotations

import re

import numpy as np

from upstream_distill.mini_superb.phones import ESPEAK_EN_PHONES, normalise_phones, word_phones
from upstream_distill.mini_superb.seeds import stable_seed
from upstream_distill.mini_superb.text import MAX_WORDS, MIN_WORDS, SentencePool, clean_sentence, load_sentences


def test_clean_sentence_keeps_plain_letter_sentences():
    s = clean_sentence("Don't count your chickens, before they hatch!")
    assert s is not None
    assert s.words == ("DON'T", "COUNT", "YOUR", "CHICKENS", "BEFORE", "THEY", "HATCH")
    assert s.text == "don't count your chickens, before they hatch!"


def test_clean_sentence_adds_final_period_and_drops_quotes():
    s = clean_sentence('He said "never again" to me')
    assert s is not None and s.text == "he said never again to me."


def test_clean_sentence_rejects():
    rejected = [
        "There are 10 kinds of people.",  # digit
        "Mr Smith went to Washington.",  # abbreviation without vowel
        "Too short here.",  # 3 words
        " ".join(["word"] * 21) + ".",  # 21 words
        "Well-known facts are boring.",  # hyphen
        "'Tis the season to be jolly.",  # leading apostrophe
        "Press x to continue now.",  # single letter other than A, I, O
        "What is this (really) about?",  # parentheses
    ]
    for raw in rejected:
        assert clean_sentence(raw) is None, raw


def test_fortune_sentences_are_plain_letters():
    sentences = load_sentences()
    assert len(sentences) > 5000
    for s in sentences:
        assert MIN_WORDS <= len(s.words) <= MAX_WORDS
        assert re.fullmatch(r"[A-Z' ]+", s.transcript), s.transcript
        assert not re.search(r"\d", s.text)
    assert len({s.words for s in sentences}) == len(sentences)


def test_sentence_pool_hands_out_disjoint_chunks():
    sentences = load_sentences()
    pool = SentencePool(sentences, np.random.default_rng(1))
    a, b = pool.take(50), pool.take(50)
    assert not {s.words for s in a} & {s.words for s in b}
    again = SentencePool(sentences, np.random.default_rng(1)).take(50)
    assert a == again


def test_normalise_phones_drops_stress_pauses_and_splits_glued_tokens():
    raw = "_!w_,aI_l h_i: w_V_z a#_w_'eI\nj_'u:_m_@_nb_'i:_;_I_N__:__: m_@_n,I_n_t\n"
    assert normalise_phones(raw) == (
        "w aI l h i: w V z a# w eI j u: m @ n b i: I N m @ n I n t".split()
    )


def test_word_phones_match_espeak_inventory():
    lex = word_phones(["HELLO", "WORLD", "DON'T", "A"], "en-us")
    assert lex["HELLO"] == ["h", "@", "l", "oU"]
    assert lex["WORLD"] == ["w", "3:", "l", "d"]
    assert all(p in ESPEAK_EN_PHONES for phones in lex.values() for p in phones)


def test_stable_seed_is_stable_and_keyed():
    assert stable_seed(0, "a", 1) == stable_seed(0, "a", 1)
    assert stable_seed(0, "a", 1) != stable_seed(1, "a", 1)
    assert stable_seed(0, "a", 1) != stable_seed(0, "a", 2)
    assert 0 <= stable_seed(5, "x") < 2**63
