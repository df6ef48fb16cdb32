"""Score parsing, the score table's rows, and the tables written from them."""

import pytest

from upstream_distill.benchmark import rows as score_table
from upstream_distill.benchmark.cli import parse_args
from upstream_distill.benchmark.leaderboard import overall_score
from upstream_distill.benchmark.plan import plan_runs
from upstream_distill.benchmark.protocol import RunProtocol, task_config_digest, weights_fingerprint
from upstream_distill.benchmark.publish import table_lock, write_reports
from upstream_distill.benchmark.runs import parse_metric
from upstream_distill.benchmark.upstream_spec import UpstreamSpec
from upstream_distill.s3prl_bridge.tasks import ALL_TASKS

EVAL_LOG = """[Runner] - Resume from x
test-clean:   0%|          | 0/3 [00:00<?, ?it/s]
test-clean loss: 3.1
test-clean uer: 71.5
test-clean wer: 98.25
"""


def test_parse_metric_takes_the_split_and_metric_asked_for():
    assert parse_metric(EVAL_LOG, "test-clean", "wer") == 98.25
    assert parse_metric(EVAL_LOG, "test-clean", "uer") == 71.5
    assert parse_metric("dev acc: 0.5\ntest acc: 0.25\n", "test", "acc") == 0.25
    with pytest.raises(ValueError, match="no 'test per"):
        parse_metric(EVAL_LOG, "test", "per")


def test_overall_is_the_mean_with_error_rates_flipped():
    row = {"pr_per": 20, "asr_wer": 40, "ks_acc": 90, "sid_acc": 50, "er_acc": 60}
    assert overall_score(row) == pytest.approx((80 + 60 + 90 + 50 + 60) / 5)
    row["er_acc"] = ""
    assert overall_score(row) is None


def test_published_rows_reproduce_papers_overall():
    # DistilHuBERT's published SUPERB row (PR/ASR/KS/SID/ER) -> (83.73+86.63+95.98+73.54+63.02)/5.
    row = {"pr_per": 16.27, "asr_wer": 13.37, "ks_acc": 95.98, "sid_acc": 73.54, "er_acc": 63.02}
    assert overall_score(row) == pytest.approx(80.58, abs=0.01)


def test_rows_merge_and_tables_are_written(tmp_path):
    a = score_table.make_row("fbank", 0.0, {"pr": 80.0, "asr": 95.0, "ks": 30.0, "sid": 10.0, "er": 40.0}, "tiny")
    b = score_table.make_row("teacher", 5.0, {"pr": 30.0, "asr": 60.0}, "tiny")
    paths = write_reports(score_table.merge_rows([], [a, b]), tmp_path, "tiny")
    rows = score_table.read_rows(paths["csv"])
    assert [r["upstream"] for r in rows] == ["fbank", "teacher"]
    assert float(rows[0]["overall"]) == pytest.approx((20 + 5 + 30 + 10 + 40) / 5)
    assert rows[1]["overall"] == "" and rows[1]["ks_acc"] == ""
    assert rows[0]["preset"] == "tiny" and rows[0]["date"] and "cores" in rows[0]["machine"]
    a2 = score_table.make_row("fbank", 0.0, {"pr": 70.0, "asr": 95.0, "ks": 30.0, "sid": 10.0, "er": 40.0}, "tiny")
    merged = score_table.merge_rows(rows, [a2])
    assert [r["upstream"] for r in merged] == ["fbank", "teacher"] and merged[0]["pr_per"] == 70.0
    md = paths["md"].read_text()
    assert "preset `tiny`" in md and "| fbank |" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_has_one_run_per_task_and_er_fold(tmp_path):
    args = parse_args(["--preset", "tiny", "-u", "fbank", "-u", "distill_student:exp/a/states-9.ckpt",
                       "--er-folds", "2"])
    runs = plan_runs(args.upstreams, args.tasks, args.er_folds, tmp_path, args.preset,
                     {spec: f"weights{i}" for i, spec in enumerate(args.upstreams)})
    assert len(runs) == 2 * (4 + 2)
    assert args.upstreams[1] == UpstreamSpec("distill_student", "exp/a/states-9.ckpt")
    assert args.upstreams[1].label == "distill_student(a)"
    assert len({r.expdir for r in runs}) == len(runs)
    er = task_config_digest(ALL_TASKS["er"], "tiny")
    assert {str(r.protocol) for r in runs if r.task.name == "er"} == {f"{er}+weights0", f"{er}+weights1"}


def test_the_weights_fingerprint_changes_with_any_weight_and_not_with_a_copy():
    import copy

    import torch

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.LayerNorm(2)).to(torch.bfloat16)
    same = copy.deepcopy(model)
    assert weights_fingerprint(model) == weights_fingerprint(same)
    with torch.no_grad():
        same[1].bias[0] += 1
    assert weights_fingerprint(model) != weights_fingerprint(same)


def test_the_protocol_digest_follows_the_task_config_and_preset():
    digests = {(name, preset): task_config_digest(task, preset) for name, task in ALL_TASKS.items()
               for preset in ("tiny", "mini")}
    assert len(set(digests.values())) == len(digests)  # tiny asr_low_ft only inherits asr_low: still its own
    assert task_config_digest(ALL_TASKS["pr"], "mini") == digests["pr", "mini"]  # stable between calls


def test_unknown_benchmark_task_is_rejected(capsys):
    with pytest.raises(SystemExit):
        parse_args(["-u", "fbank", "--tasks", "asr,weather"])
    assert "--tasks: unknown task(s) weather" in capsys.readouterr().err


def test_a_partial_rerun_keeps_the_other_scores_of_the_same_machine_only():
    full = score_table.make_row("x", 1.0, {"pr": 40.0, "asr": 90.0, "ks": 50.0, "sid": 30.0, "er": 40.0}, "mini")
    low = score_table.make_row("x", 1.0, {"asr_low": 95.0, "asr_low_ft": 93.0}, "mini")
    assert low["asr_low_wer"] == 95.0 and low["overall"] == ""
    merged, = score_table.merge_rows([full], [low])
    unfinished = score_table.make_row("x", 1.0, {"pr": 41.0}, "mini")  # asr planned again but not scored
    redone, = score_table.merge_rows([full], [unfinished], measured=["pr", "asr"])
    assert redone["pr_per"] == 41.0 and redone["asr_wer"] == "" and redone["ks_acc"] == full["ks_acc"]
    assert merged["pr_per"] == 40.0 and merged["asr_low_ft_wer"] == 93.0
    assert merged["overall"] == full["overall"]
    elsewhere = dict(low, machine="another machine")
    replaced, = score_table.merge_rows([full], [elsewhere])
    assert replaced["pr_per"] == "" and replaced["overall"] == ""


def test_the_low_resource_table_is_written_when_rows_have_its_columns(tmp_path):
    rows = [score_table.make_row("a", 1.0, {"asr": 90.0}, "mini"),
            score_table.make_row("b", 2.0, {"asr": 80.0, "asr_low": 95.0, "asr_low_ft": 92.5}, "mini",
                            {"asr": 30.0, "asr_low": 41.5, "asr_low_ft": 38.25})]
    paths = write_reports(rows, tmp_path, "mini")
    table = paths["low_resource"].read_text().splitlines()
    body = [line.split(" | ") for line in table if line.startswith("| ") and not line.startswith("| rank")]
    assert [cells[1] for cells in body] == ["b"]  # only the row with a low-resource score
    assert any("| 80.0 / 30.0 | 95.0 / 41.5 | 92.5 / 38.25 |" in line for line in table)
    assert not write_reports(rows[:1], tmp_path / "none", "mini").get("low_resource")
    # the CER columns reach the CSV, and a later run of other tasks keeps them
    merged, = score_table.merge_rows(score_table.read_rows(paths["csv"])[1:], [score_table.make_row("b", 2.0, {"pr": 40.0}, "mini")])
    assert merged["asr_low_ft_cer"] == "38.25" and merged["asr_cer"] == "30.0"


def test_a_study_table_keeps_its_order_and_adds_the_columns_its_rows_have(tmp_path):
    from upstream_distill.benchmark.markdown import write_study_table
    from upstream_distill.benchmark.students import Study

    low = dict(score_table.make_row("b", 2.0, {"pr": 40.0, "asr": 80.0, "asr_low_ft": 92.5}, "mini",
                               {"asr": 30.0, "asr_low_ft": 38.25}), speedup_vs_teacher=1.9)
    rows = [score_table.make_row("a", 1.0, {"asr": 90.0}, "mini"), low]
    study = Study(name="s", title="A study", rows={"b": "row b", "missing": "never run", "a": "row a"})
    table = write_study_table(study, rows, tmp_path / "s.md", "mini").read_text().splitlines()
    header = next(line for line in table if line.startswith("| row"))
    assert "ASR 1/10 fine-tuned WER / CER" in header and "speed vs teacher" in header
    assert "ASR 1/10 frozen" not in header  # no row has it
    body = [line for line in table if line.startswith("| ") and line is not header and "---" not in line]
    assert [line.split(" | ")[0] for line in body] == ["| b", "| missing", "| a"]
    assert "| 40.0 | 80.0 / 30.0 |" in body[0] and "| 92.5 / 38.25 | 1.9 |" in body[0]
    assert body[1].endswith("not measured yet |")
    plain = write_study_table(study, rows[:1], tmp_path / "t.md", "mini").read_text()
    assert "1/10" not in plain and "speed vs teacher (" not in plain


def test_drop_removes_a_row_and_its_layer_weights_and_refuses_an_unknown_one(tmp_path, capsys):
    from upstream_distill.benchmark.cli import main
    from upstream_distill.benchmark.layers import layer_weight_files, write_layer_weights

    out = tmp_path / "results" / "tiny"
    rows = [score_table.make_row(name, 1.0, {"pr": 50.0}, "tiny") for name in ("fbank", "old_student")]
    write_reports(rows, out, "tiny")
    write_layer_weights("old_student", {"pr": [0.5, 0.5]}, out, "tiny", "here, today")
    assert all(path.is_file() for path in layer_weight_files("old_student", out))
    with pytest.raises(SystemExit, match="--drop: no row typo"):
        main(["--preset", "tiny", "--drop", "typo", "--results", str(tmp_path / "results")])
    assert main(["--preset", "tiny", "--drop", "old_student", "--results", str(tmp_path / "results"),
                 "--corpus", str(tmp_path / "no_corpus")]) == 0
    assert not (tmp_path / "no_corpus").exists()  # nothing to run, so no corpus is built
    assert [row["upstream"] for row in score_table.read_rows(out / "scores.csv")] == ["fbank"]
    assert not any(path.exists() for path in layer_weight_files("old_student", out))


def test_tables_only_rewrites_the_tables_and_a_study_table_from_the_score_table(tmp_path):
    from upstream_distill.benchmark.cli import main, parse_args

    results, recipes = tmp_path / "results", tmp_path / "students.yaml"
    recipes.write_text("students:\n  unmade: {method: distilhubert}\nstudies:\n  s:\n    title: A study\n"
                       "    rows: {fbank: FBANK, unmade: a student not distilled yet}\n")
    common = ["--preset", "tiny", "--results", str(results), "--recipes", str(recipes),
              "--corpus", str(tmp_path / "no_corpus"), "--exp-root", str(tmp_path / "exp")]
    with pytest.raises(SystemExit, match="no score table"):
        main(common + ["--tables-only", "--study", "s"])
    write_reports([score_table.make_row("fbank", 0.0, {"pr": 50.0}, "tiny")], results / "tiny", "tiny")
    (results / "tiny" / "scores.md").unlink()
    assert main(common + ["--tables-only", "--study", "s"]) == 0
    assert not (tmp_path / "exp").exists() and not (tmp_path / "no_corpus").exists()  # nothing distilled or run
    table = (results / "tiny" / "s.md").read_text()
    fbank = next(line for line in table.splitlines() if line.startswith("| fbank | FBANK |"))
    assert fbank.split(" | ")[3:6:2] == ["0.0", "50.0"]  # params, PR
    assert 0 < float(fbank.split(" | ")[4]) < 0.1  # FBANK's MACs, measured now: the row had none
    assert "| unmade |" in table and "not measured yet" in table
    assert (results / "tiny" / "scores.md").is_file()
    with pytest.raises(SystemExit):
        parse_args(["--tables-only", "--student", "unmade"])


def test_the_score_table_is_merged_under_a_lock_that_a_second_benchmark_waits_for(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    REPO_ROOT = Path(__file__).resolve().parents[2]

    out = tmp_path / "results" / "tiny"
    write_reports([score_table.make_row("fbank", 0.0, {"pr": 50.0}, "tiny")], out, "tiny")
    (out / "scores.md").unlink()
    cmd = [sys.executable, str(REPO_ROOT / "run_benchmark.py"), "--preset", "tiny", "--tables-only",
           "--results", str(tmp_path / "results")]
    with table_lock(out):
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=8)  # blocked on the lock this test holds
        assert not (out / "scores.md").exists()
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    assert (out / "scores.md").is_file()


def test_scores_measured_under_an_earlier_task_config_are_marked_in_every_table(tmp_path):
    from upstream_distill.benchmark.markdown import write_study_table
    from upstream_distill.benchmark.students import Study

    five = {"pr": 40.0, "asr": 80.0, "ks": 50.0, "sid": 30.0, "er": 40.0}
    now = {"pr": "p1", "asr": "a1", "ks": "k1", "sid": "s2", "er": "e1", "asr_low": "l1", "asr_low_ft": "f1"}
    old_protocols = {**{t: now[t] for t in five}, "sid": "s1", "asr_low": "l0"}
    old = score_table.make_row("old", 1.0, {**five, "asr_low": 95.0}, "mini", {"asr": 30.0, "asr_low": 41.0},
                          old_protocols)
    new = score_table.make_row("new", 1.0, five, "mini", {"asr": 30.0}, {t: now[t] for t in five})
    paths = write_reports([old, new], tmp_path, "mini", now)
    md = paths["md"].read_text()
    assert "| old | 1.0 |  | 40.0 | 80.0 | 50.0 | 30.0† | 40.0 | 40.0† |" in md  # SID and overall marked
    assert "| new | 1.0 |  | 40.0 | 80.0 | 50.0 | 30.0 | 40.0 | 40.0 |" in md
    assert "\n† scored under an earlier config of its task (sid;" in md
    low = paths["low_resource"].read_text()
    assert "| 95.0 / 41.0† |" in low and "(asr_low, sid;" in low  # sid: through the overall
    study = Study(name="s", title="S", rows={"old": "o", "new": "n"})
    table = write_study_table(study, [old, new], tmp_path / "s.md", "mini", now).read_text()
    assert "| 30.0† | 40.0 | 40.0† |" in table and "| 95.0 / 41.0† |" in table and "| 80.0 / 30.0 |" in table
    # nothing is marked without the current digests, or when they match
    assert "†" not in write_study_table(study, [new], tmp_path / "t.md", "mini", now).read_text()
    write_reports([old], tmp_path / "plain", "mini")
    assert "†" not in (tmp_path / "plain" / "scores.md").read_text()
    # a partial re-run keeps the protocols of the tasks it did not measure and records the new one
    rescored = score_table.make_row("old", 1.0, {"sid": 33.0}, "mini", None, {"sid": "s2"})
    merged, = score_table.merge_rows(score_table.read_rows(paths["csv"])[:1], [rescored], measured=["sid"])
    assert score_table.parse_protocols(merged[score_table.PROTOCOL_COLUMN]) == {**old_protocols, "sid": "s2"}
    assert score_table.stale_tasks(merged, now) == {"asr_low"}


def test_tables_only_marks_the_rows_scored_before_a_task_config_changed(tmp_path):
    from upstream_distill.benchmark.cli import main
    from upstream_distill.benchmark.protocol import current_task_configs

    results = tmp_path / "results"
    now = current_task_configs("tiny")
    five = {"pr": 40.0, "asr": 80.0, "ks": 50.0, "sid": 30.0, "er": 40.0}
    rows = [score_table.make_row("before", 1.0, five, "tiny", None, {**now, "ks": "0123456789ab"}),
            score_table.make_row("after", 1.0, five, "tiny", None, now)]
    write_reports(rows, results / "tiny", "tiny")
    assert "†" not in (results / "tiny" / "scores.md").read_text()
    assert main(["--preset", "tiny", "--tables-only", "--results", str(results),
                 "--exp-root", str(tmp_path / "exp")]) == 0
    md = (results / "tiny" / "scores.md").read_text()
    assert "| before | 1.0 |  | 40.0 | 80.0 | 50.0† |" in md and "| after | 1.0 |  | 40.0 | 80.0 | 50.0 |" in md
    assert "earlier config of its task (ks;" in md


def test_a_run_claimed_by_another_benchmark_command_is_not_run_twice(tmp_path, tiny_corpus, caplog):
    from upstream_distill.benchmark.cli import main
    from upstream_distill.benchmark.runs import TaskRun, claim

    expdir = tmp_path / "exp" / "tiny" / "fbank" / "ks"
    run = TaskRun(UpstreamSpec.parse("fbank"), ALL_TASKS["ks"], None, expdir, RunProtocol("p", "w"))
    with claim(run) as first:
        with claim(run) as second:
            assert first and not second  # a second open of the lock (another command) is refused
        caplog.set_level("WARNING", logger="benchmark")
        assert main(["--preset", "tiny", "-u", "fbank", "--tasks", "ks", "--corpus", str(tiny_corpus),
                     "--exp-root", str(tmp_path / "exp"), "--results", str(tmp_path / "results"),
                     "--speed-reference", "none"]) == 0
    assert "fbank/ks: being run by another benchmark command; not run here" in caplog.text
    assert not expdir.exists()  # nothing trained into the claimed folder
    assert score_table.read_rows(tmp_path / "results" / "tiny" / "scores.csv")[0]["ks_acc"] == ""
    with claim(run) as again:
        assert again  # released with the command that held it


def test_layer_weights_of_a_partial_run_keep_the_other_tasks_rows(tmp_path):
    import csv

    from upstream_distill.benchmark.layers import layer_weight_files, write_layer_weights

    write_layer_weights("x", {"pr": [0.5, 0.5], "ks": [0.25, 0.75]}, tmp_path, "mini", "machine, day 1")
    write_layer_weights("x", {"ks": [0.75, 0.25]}, tmp_path, "mini", "machine, day 2")  # --tasks ks
    with open(layer_weight_files("x", tmp_path)[0], newline="") as handle:
        rows = {row["task"]: row for row in csv.DictReader(handle)}
    assert rows["pr"]["h0"] == "0.5000" and rows["pr"]["measured_on"] == "machine, day 1"
    assert rows["ks"]["h0"] == "0.7500" and rows["ks"]["measured_on"] == "machine, day 2"
    write_layer_weights("x", {"ks": [0.1, 0.2, 0.7]}, tmp_path, "mini", "day 3")  # another network: no mixing
    with open(layer_weight_files("x", tmp_path)[0], newline="") as handle:
        assert [row["task"] for row in csv.DictReader(handle)] == ["ks"]


def test_the_leaderboard_ranks_by_superb_score_and_names_its_reference_rows(tmp_path):
    five = {"pr": 40.0, "asr": 70.0, "ks": 70.0, "sid": 65.0, "er": 55.0}
    now = {"pr": "p1", "asr": "a1", "ks": "k1", "sid": "s1", "er": "e1"}
    rows = [score_table.make_row("fbank", 0.0, {"pr": 45.0, "asr": 80.0, "ks": 10.0, "sid": 5.0, "er": 25.0}, "mini",
                                 None, now, macs_g=0.021),
            score_table.make_row("student", 2.0, {"pr": 42.0, "asr": 75.0, "ks": 40.0, "sid": 35.0, "er": 40.0},
                                 "mini", None, now, macs_g=1.5),
            score_table.make_row("tiny_hubert", 11.8, five, "mini", None, {**now, "er": "e0"}, macs_g=8.0)]
    paths = write_reports(rows, tmp_path, "mini", now)
    md = paths["md"].read_text()
    assert ("| rank | upstream | params (M) | MACs (G) | PR PER ↓ | ASR WER ↓ | KS acc ↑ | SID acc ↑ | ER acc ↑ | "
            "overall ↑ | SUPERB score ↑ | PR retention % | ASR retention % | KS retention % | SID retention % | "
            "ER retention % | measured on |") in md
    assert "reference rows: `fbank` = 0 and `tiny_hubert` = 1000" in md and "Ranked by SUPERB score." in md
    assert "MACs = FLOPs / 2" in md
    body = [line.split(" | ") for line in md.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [(cells[0], cells[1]) for cells in body] == [("| 1", "tiny_hubert"), ("| 2", "student"), ("| 3", "fbank")]
    # the teacher's ER predates its config: every SUPERB score and ER retention leans on it, so all are marked
    assert [cells[10] for cells in body] == ["1000.0†", "520.0†", "0.0†"]
    assert body[1][11:16] == ["60.0", "50.0", "50.0", "50.0", "50.0†"]
    csv_row = {r["upstream"]: r for r in score_table.read_rows(paths["csv"])}["student"]
    assert csv_row["superb_score"] == "520.0" and csv_row["macs_g"] == "1.5" and csv_row["pr_retention_pct"] == "60.0"
