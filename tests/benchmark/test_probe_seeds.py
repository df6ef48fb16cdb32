"""--probe-seeds: one folder and protocol per seed, the seeds' mean ± sd in every table, over the same
score records the runs leave (the harness faked: fast)."""
import json

import pytest

from upstream_distill.benchmark import rows as score_table
from upstream_distill.benchmark import runs
from upstream_distill.benchmark.cli import main, parse_args
from upstream_distill.benchmark.measure import UpstreamMeasures
from upstream_distill.benchmark.modes.score import collect_row
from upstream_distill.benchmark.plan import plan_runs
from upstream_distill.benchmark.publish import write_reports
from upstream_distill.benchmark.seeds import s3prl_seed, seed_suffix, seeds_of_folders, summarize, unseeded
from upstream_distill.benchmark.upstream_spec import UpstreamSpec

FBANK = UpstreamSpec.parse("fbank")
MEASURES = UpstreamMeasures(0.0, 0.021, "w0")


def finish(run, percent, **extra):
    """Leave the score.json a finished run leaves."""
    run.expdir.mkdir(parents=True, exist_ok=True)
    record = {"protocol": str(run.protocol), "percent": percent, "task": run.task.name, **extra}
    run.score_file.write_text(json.dumps(record))


def test_seed_one_is_s3prls_default_and_keeps_the_folder_every_earlier_run_has():
    assert [s3prl_seed(k) for k in (1, 2, 3)] == [1337, 1338, 1339]
    assert (seed_suffix(1), seed_suffix(2), seed_suffix(12)) == ("", ".seed2", ".seed12")
    names = ["ks", "ks.seed2", "ks.seed3", "ks.seed2.superseded", "ks.superseded", "ks.seed0", "ks.seed02", "ksx",
             "er-fold1", "er-fold1.seed2"]
    assert seeds_of_folders(names, "ks") == [1, 2, 3]
    assert seeds_of_folders(names, "er-fold1") == [1, 2]
    assert seeds_of_folders(["ks.seed2"], "ks") == [2]
    assert (unseeded("er-fold1.seed2"), unseeded("ks"), unseeded("ks.seed12")) == ("er-fold1", "ks", "ks")


def test_every_seed_has_its_own_folder_and_protocol_and_seed_one_is_the_run_planned_before(tmp_path):
    seeded = plan_runs([FBANK], ["ks", "er"], 2, tmp_path, "tiny", {FBANK: "w0"}, seeds=3)
    folders = [run.expdir.relative_to(tmp_path).as_posix() for run in seeded]
    assert folders == ["fbank/ks", "fbank/ks.seed2", "fbank/ks.seed3",
                       "fbank/er-fold1", "fbank/er-fold2", "fbank/er-fold1.seed2", "fbank/er-fold2.seed2",
                       "fbank/er-fold1.seed3", "fbank/er-fold2.seed3"]
    assert [run.name for run in seeded[:3]] == ["fbank/ks", "fbank/ks/seed2", "fbank/ks/seed3"]
    assert str(seeded[1].protocol) == f"{seeded[0].protocol}+seed2"
    single = plan_runs([FBANK], ["ks", "er"], 2, tmp_path, "tiny", {FBANK: "w0"})
    first = [run for run in seeded if run.seed == 1]
    assert [(r.expdir, r.protocol) for r in first] == [(r.expdir, r.protocol) for r in single]  # existing runs count
    finish(single[0], 50.0)
    assert first[0].done() and not seeded[1].done()  # a seed's score is not another seed's


def test_a_run_trains_with_its_seed_pinned_threads_and_a_named_device(tmp_path, monkeypatch):
    calls = []

    class Stop(Exception):
        pass

    def logged(cmd, log_file, env=None):
        calls.append((cmd, env))
        raise Stop

    monkeypatch.setattr(runs, "run_logged", logged)
    for run in plan_runs([FBANK], ["ks"], 1, tmp_path, "tiny", {FBANK: "w0"}, seeds=2, threads=3):
        with pytest.raises(Stop):
            runs.execute(run, "tiny", tmp_path / "corpus")
    (first, env), (second, _) = calls
    assert first[first.index("--seed") + 1] == "1337" and second[second.index("--seed") + 1] == "1338"
    assert env == {"OMP_NUM_THREADS": "3", "MKL_NUM_THREADS": "3"}
    assert first[first.index("--device") + 1] in ("cpu", "cuda") and first[first.index("--threads") + 1] == "3"
    assert (tmp_path / "fbank" / "ks.seed2" / "protocol.txt").read_text().strip().endswith("+seed2")


def test_the_row_is_the_mean_over_seeds_with_their_sd_and_a_task_counts_once_every_seed_finished(tmp_path):
    planned = plan_runs([FBANK], ["pr", "er", "ks"], 2, tmp_path, "tiny", {FBANK: "w0"}, seeds=3)
    by = {(run.task.name, run.fold, run.seed): run for run in planned}
    for seed, per in zip((1, 2, 3), (44.46, 45.36, 46.26)):
        finish(by["pr", None, seed], per, probe_device="cpu", probe_torch="2.13.0+cpu", probe_threads=2)
    for seed, folds in zip((1, 2, 3), ((40.0, 50.0), (50.0, 60.0), (60.0, 70.0))):  # per seed: 45, 55, 65
        for fold, value in zip(("fold1", "fold2"), folds):
            finish(by["er", fold, seed], value)  # a score from before the facts were recorded
    finish(by["ks", None, 1], 80.0)
    finish(by["ks", None, 2], 90.0)  # seed 3 of ks unfinished: no ks score
    row = collect_row(FBANK, planned, MEASURES, "tiny")
    assert (row["pr_per"], row["pr_per_sd"]) == (45.36, 0.9)  # hand: sd of (-0.9, 0, 0.9) is 0.9
    assert (row["er_acc"], row["er_acc_sd"]) == (55.0, 10.0)
    assert row["ks_acc"] == "" and "ks_acc_sd" not in row
    assert score_table.parse_protocols(row[score_table.PROTOCOL_COLUMN]).keys() == {"pr", "er"}
    assert row["probe_seeds"] == "er=3;pr=3"
    assert (row["probe_threads"], row["probe_device"], row["probe_torch"]) == ("2", "cpu", "2.13.0+cpu")
    one = collect_row(FBANK, [run for run in planned if run.seed == 1], MEASURES, "tiny")
    assert (one["pr_per"], one["er_acc"], one["ks_acc"]) == (44.46, 45.0, 80.0) and "probe_seeds" not in one
    assert not any(key.endswith("_sd") for key in one)


def test_summarize_uses_the_sample_sd():
    summary = summarize([44.46, 45.36, 46.26])
    assert summary.mean == pytest.approx(45.36) and summary.sd == pytest.approx(0.9) and summary.n == 3
    assert summarize([45.36]).sd is None


FIVE = {"pr": 45.36, "asr": 80.0, "ks": 40.0, "sid": 30.0, "er": 50.0}


def seeded_row(name="student", **probe):
    spread = score_table.SeedSpread({"pr": 0.9, "asr": 1.5, "ks": 2.0, "sid": 3.0, "er": 4.0}, {"asr": 0.5},
                                    {task: 3 for task in FIVE})
    return score_table.make_row(name, 1.0, FIVE, "mini", {"asr": 30.0}, None, 1.0, spread, probe or None)


def test_the_tables_show_mean_plus_minus_sd_and_the_summaries_come_from_the_means(tmp_path):
    from upstream_distill.benchmark.markdown import write_study_table
    from upstream_distill.benchmark.students import Study

    fbank = score_table.make_row("fbank", 0.0, {"pr": 47.0, "asr": 85.0, "ks": 10.0, "sid": 5.0, "er": 30.0}, "mini")
    row = seeded_row(probe_threads="2", probe_device="cpu", probe_torch="2.13.0+cpu")
    paths = write_reports([fbank, row], tmp_path, "mini")
    md = paths["md"].read_text()
    overall = round((100 - 45.36 + 100 - 80.0 + 40.0 + 30.0 + 50.0) / 5, 2)  # of the means
    assert f"| student | 1.0 | 1.0 | 45.36 ± 0.90 | 80.0 ± 1.50 | 40.0 ± 2.00 | 30.0 ± 3.00 | 50.0 ± 4.00 | {overall} |" \
        in md
    assert "| fbank | 0.0 |  | 47.0 | 85.0 |" in md  # one training: no ±
    assert "Seeds per row: `student` 3." in md and "s3prl seeds 1337, 1338, ..." in md
    assert "; probes: cpu, 2 threads, torch 2.13.0+cpu |" in md and "ran 2 threads, the protocol's implicit" in md
    csv_row = {r["upstream"]: r for r in score_table.read_rows(paths["csv"])}["student"]
    assert (csv_row["pr_per"], csv_row["pr_per_sd"], csv_row["asr_cer_sd"]) == ("45.36", "0.9", "0.5")
    study = Study(name="s", title="S", rows={"student": "seeded", "fbank": "baseline"})
    table = write_study_table(study, [fbank, row], tmp_path / "s.md", "mini").read_text()
    assert "| 45.36 ± 0.90 | 80.0 ± 1.50 / 30.0 ± 0.50 | 40.0 ± 2.00 |" in table
    assert "Seeds per row: `student` 3." in table
    assert "Seeds per row" not in write_study_table(Study("t", "T", {"fbank": "b"}), [fbank], tmp_path / "t.md",
                                                    "mini").read_text()


def test_a_row_whose_tasks_differ_in_seeds_says_so_per_task(tmp_path):
    row = score_table.make_row("x", 1.0, {"pr": 45.0, "ks": 40.0}, "mini", None, None, None,
                               score_table.SeedSpread({"pr": 1.0}, {}, {"pr": 3, "ks": 1}))
    assert row["probe_seeds"] == "pr=3"
    md = write_reports([row], tmp_path, "mini")["md"].read_text()
    assert "`x` pr 3, ks 1" in md and "| 45.0 ± 1.00 |" in md and "| 40.0 |" in md


def test_a_partial_rerun_keeps_the_spread_of_the_tasks_it_did_not_measure_only():
    old = seeded_row(probe_threads="2", probe_device="cpu", probe_torch="2.12.0")
    partial = score_table.make_row("student", 1.0, {"ks": 41.0}, "mini", None, None, 1.0, None,
                                   {"probe_threads": "2", "probe_device": "cpu", "probe_torch": "2.13.0"})
    merged, = score_table.merge_rows([old], [partial], measured=["ks"])
    assert merged["ks_acc"] == 41.0 and "ks_acc_sd" not in merged  # re-measured with one seed
    assert (merged["pr_per"], merged["pr_per_sd"], merged["asr_cer_sd"]) == (45.36, 0.9, 0.5)
    assert score_table.parse_seed_counts(merged["probe_seeds"]) == {"pr": 3, "asr": 3, "sid": 3, "er": 3}
    assert merged["probe_torch"] == "2.12.0 / 2.13.0"  # the row's probes ran under both
    before = score_table.make_row("student", 1.0, FIVE, "mini")  # scored before the facts were recorded
    merged, = score_table.merge_rows([before], [partial], measured=["ks"])
    assert merged["probe_threads"] == "2"  # the protocol's implicit default, which the old scores ran


def test_tables_only_redraws_mean_plus_minus_sd_from_the_score_table(tmp_path):
    results = tmp_path / "results"
    write_reports([seeded_row()], results / "mini", "mini")
    (results / "mini" / "scores.md").unlink()
    assert main(["--preset", "mini", "--tables-only", "--results", str(results),
                 "--exp-root", str(tmp_path / "exp")]) == 0
    assert "| 45.36 ± 0.90 | 80.0 ± 1.50 |" in (results / "mini" / "scores.md").read_text()


def test_the_flags_refuse_nonsense_naming_themselves(capsys):
    for flag in ("--probe-seeds", "--probe-threads"):
        with pytest.raises(SystemExit):
            parse_args(["-u", "fbank", flag, "0"])
        assert f"{flag}: must be 1 or more" in capsys.readouterr().err
    args = parse_args(["-u", "fbank"])
    assert (args.probe_seeds, args.probe_threads) == (1, 2)


def test_every_seed_is_a_job_of_its_own_under_the_launcher(tmp_path):
    from upstream_distill.benchmark.launch.submitter import job_name
    from upstream_distill.benchmark.launch.targets import run_target

    targets = [run_target(run, "tiny", tmp_path / "corpus")
               for run in plan_runs([FBANK], ["ks"], 1, tmp_path, "tiny", {FBANK: "w0"}, seeds=2)]
    assert [job_name(t) for t in targets] == ["bench-fbank-ks", "bench-fbank-ks-seed2"]
    assert [t.folder.name for t in targets] == ["ks", "ks.seed2"] and targets[1].protocol.endswith("+seed2")
