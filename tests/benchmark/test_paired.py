"""Paired significance tests between two rows, on run folders laid out as s3prl's experts write them."""
import json

import numpy as np
import pytest

from upstream_distill.benchmark.paired import NotComparable, compare_task, mcnemar, paired_bootstrap


def classification_run(folder, truth, predicted, protocol="ks0+w", stem="test"):
    folder.mkdir(parents=True)
    (folder / f"{stem}_truth.txt").write_text("".join(f"utt{i} {label}\n" for i, label in enumerate(truth)))
    (folder / f"{stem}_predict.txt").write_text("".join(f"utt{i} {label}\n" for i, label in enumerate(predicted)))
    (folder / "score.json").write_text(json.dumps({"protocol": protocol}))


def ark_run(folder, refs, hyps, protocol="pr0+w", split="test"):
    folder.mkdir(parents=True)
    (folder / f"{split}-hyp.ark").write_text("".join(f"u{i} {h}\n" for i, h in enumerate(hyps)))
    (folder / f"{split}-ref.ark").write_text("".join(f"u{i} {r}\n" for i, r in enumerate(refs)))
    (folder / "score.json").write_text(json.dumps({"protocol": protocol}))


def test_mcnemar_counts_only_the_discordant_items():
    a = np.array([True] * 30 + [False] * 10 + [True] * 2)
    b = np.array([True] * 30 + [True] * 10 + [False] * 2)
    only_a, only_b, p = mcnemar(a, b)
    assert (only_a, only_b) == (2, 10)
    assert p == pytest.approx(2 * sum(__import__("math").comb(12, k) for k in range(3)) / 2 ** 12)
    assert mcnemar(a, a)[2] == 1.0


def test_accuracy_tasks_compare_item_by_item(tmp_path):
    truth = ["yes", "no"] * 50
    classification_run(tmp_path / "a" / "ks", truth, truth)  # all right
    classification_run(tmp_path / "b" / "ks", truth, truth[:60] + ["up"] * 40)  # 40 wrong
    result = compare_task(tmp_path, "a", "b", "ks")
    assert (result.items, result.score_a, result.score_b) == (100, 100.0, 60.0)
    assert "only a right: 40, only b right: 0" in result.detail and result.p_value < 1e-6
    assert result.verdict("a", "b") == "a better"
    classification_run(tmp_path / "c" / "ks", truth, truth[:99] + ["up"])
    assert compare_task(tmp_path, "a", "c", "ks").verdict("a", "c").startswith("no significant difference")
    classification_run(tmp_path / "d" / "ks", truth, truth, protocol="ks1+w")  # another KS config
    with pytest.raises(NotComparable, match="different task configs"):
        compare_task(tmp_path, "a", "d", "ks")
    with pytest.raises(NotComparable, match="no finished run"):
        compare_task(tmp_path, "a", "missing", "ks")


def test_emotion_pools_its_five_folds(tmp_path):
    truth = ["neu", "hap", "ang", "sad"] * 5
    for fold in range(1, 6):
        stem = f"test_fold{fold}"
        classification_run(tmp_path / "a" / f"er-fold{fold}", truth, truth, "er0+w", stem)
        classification_run(tmp_path / "b" / f"er-fold{fold}", truth, ["neu"] * 20, "er0+w", stem)
    result = compare_task(tmp_path, "a", "b", "er")
    assert result.items == 100 and result.score_b == 25.0 and "only a right: 75" in result.detail


def test_error_rates_are_recomputed_from_the_arks_and_bootstrapped_by_utterance(tmp_path):
    refs = ["a b c d"] * 40
    ark_run(tmp_path / "a" / "pr", refs, ["a b c d"] * 30 + ["a b c x"] * 10)  # 10 substitutions / 160
    ark_run(tmp_path / "b" / "pr", refs, ["a x c"] * 40)  # 2 edits each: 80 / 160
    result = compare_task(tmp_path, "a", "b", "pr")
    assert (result.score_a, result.score_b) == (6.25, 50.0)
    low, high = [float(x) for x in result.detail.split("[")[1].rstrip("]").split(",")]
    assert 0 < low < 50.0 - 6.25 < high and result.p_value < 0.01 and result.verdict("a", "b") == "a better"
    same = compare_task(tmp_path, "a", "a", "pr")
    assert same.p_value == 1.0 and same.verdict("a", "a").startswith("no significant")


def test_the_cer_of_an_asr_run_counts_characters_and_word_separators(tmp_path):
    ark_run(tmp_path / "a" / "asr", ["AB CD"], ["AB CE"], "asr0+w", "test-clean-noLM")
    ark_run(tmp_path / "b" / "asr", ["AB CD"], ["AB"], "asr0+w", "test-clean-noLM")
    wer, cer = compare_task(tmp_path, "a", "b", "asr"), compare_task(tmp_path, "a", "b", "asr", characters=True)
    assert (wer.score_a, wer.score_b) == (50.0, 50.0)
    # reference A B | C D | (6 units): a has 1 substitution, b misses C D | (3 deletions)
    assert (cer.task, cer.score_a, cer.score_b) == ("asr CER", round(100 / 6, 2), 50.0)


def test_bootstrap_interval_is_reproducible_and_centred_on_the_difference():
    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 20, size=200)
    a = np.stack([rng.binomial(lengths, 0.2), lengths], axis=1)
    b = np.stack([rng.binomial(lengths, 0.3), lengths], axis=1)
    low, high, p = paired_bootstrap(a, b)
    delta = 100 * (b[:, 0].sum() - a[:, 0].sum()) / lengths.sum()
    assert low < delta < high and p < 0.01 and (low, high, p) == paired_bootstrap(a, b)


def test_compare_flag_writes_the_table_and_names_bad_rows(tmp_path):
    from upstream_distill.benchmark.cli import main, parse_args

    truth = ["yes", "no"] * 20
    exp = tmp_path / "exp"
    classification_run(exp / "tiny" / "a" / "ks", truth, truth)
    classification_run(exp / "tiny" / "b" / "ks", truth, ["no"] * 40)
    common = ["--preset", "tiny", "--exp-root", str(exp), "--results", str(tmp_path / "results")]
    assert main(common + ["--compare", "a,b", "--tasks", "ks,sid"]) == 0
    table = (tmp_path / "results" / "tiny" / "compare_a_vs_b.md").read_text()
    assert "| ks (an earlier config of the task) | 40 | 100.0 % acc | 50.0 % acc |" in table
    assert "| sid | | | | not compared: a has no finished run" in table
    assert "Computed on " in table and " cores" in table  # the machine and date it was computed on
    ark_run(exp / "tiny" / "a" / "pr", ["a b"] * 30, ["a b"] * 30, "pr0+w")
    ark_run(exp / "tiny" / "b" / "pr", ["a b"] * 30, ["a"] * 30, "pr0+w")
    assert main(common + ["--compare", "a,b", "--tasks", "pr"]) == 0  # every resample favours a: p is a bound
    assert "| < 0.001 | a better |" in (tmp_path / "results" / "tiny" / "compare_a_vs_b.md").read_text()
    with pytest.raises(SystemExit, match="no runs of nobody"):
        main(common + ["--compare", "a,nobody"])
    for bad in (["--compare", "a"], ["--compare", "a,a"], ["--compare", "a,b", "-u", "fbank"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def seeded_classification_runs(root, row, truth, predictions, protocol="ks0+w"):
    """One KS run per probe seed: seed 1 in ks/, seed k in ks.seed<k>/ with its protocol."""
    for seed, predicted in enumerate(predictions, start=1):
        folder = root / row / ("ks" if seed == 1 else f"ks.seed{seed}")
        classification_run(folder, truth, predicted, protocol if seed == 1 else f"{protocol}+seed{seed}")


def test_the_multi_bootstrap_reduces_to_the_paired_bootstrap_with_one_seed_each():
    from upstream_distill.benchmark.paired import multi_bootstrap

    rng = np.random.default_rng(1)
    lengths = rng.integers(5, 20, size=200)
    a, b = rng.binomial(lengths, 0.2), rng.binomial(lengths, 0.3)
    single = paired_bootstrap(np.stack([a, lengths], axis=1), np.stack([b, lengths], axis=1))
    assert multi_bootstrap(a[None], b[None], lengths) == pytest.approx(single)


def test_seed_noise_widens_the_interval_that_the_test_set_alone_would_give():
    from upstream_distill.benchmark.paired import multi_bootstrap

    rng = np.random.default_rng(2)
    lengths = np.full(400, 10)
    steady = np.stack([rng.binomial(lengths, 0.2) for _ in range(3)])  # three seeds alike
    b_rates = (0.22, 0.30, 0.38)  # B's seeds scatter: 22 %, 30 %, 38 % errors
    scattered = np.stack([rng.binomial(lengths, rate) for rate in b_rates])
    low, high, _ = multi_bootstrap(steady, scattered, lengths)
    one_low, one_high, _ = multi_bootstrap(steady[:1], scattered[1:2], lengths)  # one seed each: test noise only
    assert high - low > 3 * (one_high - one_low)


def test_compare_uses_every_seed_of_both_rows_and_says_so(tmp_path):
    truth = ["yes", "no"] * 50
    wrong = {n: truth[:100 - n] + ["up"] * n for n in range(0, 101)}
    seeded_classification_runs(tmp_path, "a", truth, [wrong[0], wrong[2], wrong[1]])  # 100, 98, 99
    seeded_classification_runs(tmp_path, "b", truth, [wrong[40], wrong[44], wrong[42]])  # 60, 56, 58
    result = compare_task(tmp_path, "a", "b", "ks")
    assert (result.seeds_a, result.seeds_b, result.score_a, result.score_b) == (3, 3, 99.0, 58.0)
    assert (result.sd_a, result.sd_b) == pytest.approx((1.0, 2.0))
    assert result.score_text("% acc", True) == "99.0 ± 1.00 % acc (3 seeds)"
    assert "per seed: a 100.00, 98.00, 99.00; b 60.00, 56.00, 58.00" in result.detail
    low, high = [float(x) for x in result.detail.split("[")[1].split("]")[0].split(",")]
    assert 0 < low < 41.0 < high and result.p_value == 0.0 and result.verdict("a", "b") == "a better"
    seeded_classification_runs(tmp_path, "c", truth, [wrong[0]])  # one seed only
    mixed = compare_task(tmp_path, "a", "c", "ks")
    assert (mixed.seeds_a, mixed.seeds_b) == (3, 1) and "c: one seed, its training noise unmeasured" in mixed.detail
    (tmp_path / "a" / "ks.seed4").mkdir()  # a seed still training
    with pytest.raises(NotComparable, match="a's probe seed 4 has no finished run"):
        compare_task(tmp_path, "a", "b", "ks")
    (tmp_path / "a" / "ks.seed4").rename(tmp_path / "a" / "ks.seed4.superseded")  # set aside: no seed
    seeded_classification_runs(tmp_path, "d", truth, [wrong[0], wrong[0]], protocol="ks1+w")
    with pytest.raises(NotComparable, match="different task configs"):
        compare_task(tmp_path, "a", "d", "ks")


def test_the_error_rates_of_several_seeds_are_compared_over_items_and_seeds(tmp_path):
    refs = ["a b c d"] * 40
    for seed, hyps in enumerate((["a b c d"] * 30 + ["a b c x"] * 10, ["a b c d"] * 40), start=1):
        ark_run(tmp_path / "a" / ("pr" if seed == 1 else f"pr.seed{seed}"), refs, hyps, "pr0+w" + (
            f"+seed{seed}" if seed > 1 else ""))
    ark_run(tmp_path / "b" / "pr", refs, ["a x c"] * 40)
    result = compare_task(tmp_path, "a", "b", "pr")
    assert (result.score_a, result.score_b, result.seeds_a, result.seeds_b) == (3.12, 50.0, 2, 1)
    assert result.score_text("% PER", True) == f"3.12 ± {6.25 / 2 ** 0.5:.2f} % PER (2 seeds)"
    assert result.score_text("% PER", False) == "50.0 % PER (1 seed)"


def test_compare_writes_the_seed_note_only_when_a_row_has_several_seeds(tmp_path):
    from upstream_distill.benchmark.cli import main

    truth = ["yes", "no"] * 20
    exp = tmp_path / "exp"
    seeded_classification_runs(exp / "tiny", "a", truth, [truth, truth])
    seeded_classification_runs(exp / "tiny", "b", truth, [["no"] * 40, ["no"] * 40])
    common = ["--preset", "tiny", "--exp-root", str(exp), "--results", str(tmp_path / "results"), "--tasks", "ks"]
    assert main(common + ["--compare", "a,b"]) == 0
    table = (tmp_path / "results" / "tiny" / "compare_a_vs_b.md").read_text()
    assert "multi-bootstrap (Sellam et al. 2022)" in table
    assert "| 40 | 100.0 ± 0.00 % acc (2 seeds) | 50.0 ± 0.00 % acc (2 seeds) |" in table
    assert "| < 0.001 | a better |" in table
    classification_run(exp / "tiny" / "c" / "ks", truth, truth)
    classification_run(exp / "tiny" / "e" / "ks", truth, truth)
    assert main(common + ["--compare", "c,e"]) == 0
    assert "multi-bootstrap" not in (tmp_path / "results" / "tiny" / "compare_c_vs_e.md").read_text()
