"""`run_benchmark.py --student/--study`: distil a student with run_pretrain.py, then score it."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from upstream_distill.benchmark import rows as score_table
from upstream_distill.benchmark.students import read_recipes

REPO_ROOT = Path(__file__).resolve().parents[2]

RECIPES = """
students:
  little_distilhubert:
    method: distilhubert
    override: "config.runner.total_steps=4,,config.runner.save_step=2"
  little_int8: {int8_of: little_distilhubert}
studies:
  little_study:
    title: "A study of two rows"
    rows:
      fbank: the FBANK baseline
      little_distilhubert: DistilHuBERT, 4 updates
"""


def benchmark(tmp_path, corpus, *extra):
    cmd = [sys.executable, str(REPO_ROOT / "run_benchmark.py"), "--preset", "tiny", "--tasks", "ks",
           "--corpus", str(corpus), "--exp-root", str(tmp_path / "exp"), "--results", str(tmp_path / "results"),
           "--recipes", str(tmp_path / "students.yaml"), "--speed-reference", "none", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)


@pytest.fixture(scope="module")
def study_run(tiny_corpus, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("students")
    (tmp_path / "students.yaml").write_text(RECIPES)
    proc = benchmark(tmp_path, tiny_corpus, "--study", "little_study")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tmp_path


@pytest.mark.slow
def test_a_study_distils_its_student_scores_every_row_and_writes_its_table(study_run):
    expdir = study_run / "exp" / "students" / "tiny" / "little_distilhubert"
    assert sorted(p.name for p in expdir.glob("states-*.ckpt")) == ["states-2.ckpt", "states-4.ckpt"]
    assert list((expdir.parent / "teacher_cache").iterdir()), "--cache-teacher was not passed"
    payload = torch.load(expdir / "states-4.ckpt", map_location="cpu", weights_only=True)
    assert payload["config"]["runner"]["total_steps"] == 4  # the recipe's override reached run_pretrain.py

    rows = {r["upstream"]: r for r in score_table.read_rows(study_run / "results" / "tiny" / "scores.csv")}
    assert set(rows) == {"fbank", "little_distilhubert"}
    student = rows["little_distilhubert"]
    assert 0.0 <= float(student["ks_acc"]) <= 100.0 and 0.0 < float(student["params_m"]) < 1.0
    table = (study_run / "results" / "tiny" / "little_study.md").read_text()
    assert table.startswith("# A study of two rows")
    lines = [line for line in table.splitlines() if line.startswith("| little_distilhubert")]
    assert len(lines) == 1 and f"| {student['ks_acc']} |" in lines[0]


@pytest.mark.slow
def test_a_rerun_neither_distils_nor_scores_again(study_run, tiny_corpus):
    expdir = study_run / "exp" / "students" / "tiny" / "little_distilhubert"
    stamp = (expdir / "upstream.pt").stat().st_mtime_ns
    proc = benchmark(study_run, tiny_corpus, "--student", "little_distilhubert")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 already finished (resumed), 0 to do" in proc.stderr
    assert (expdir / "upstream.pt").stat().st_mtime_ns == stamp


@pytest.mark.slow
def test_distill_only_distils_the_students_and_scores_nothing(tiny_corpus, tmp_path):
    (tmp_path / "students.yaml").write_text(RECIPES)
    proc = benchmark(tmp_path, tiny_corpus, "--study", "little_study", "--distill-only")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "exp" / "students" / "tiny" / "little_distilhubert" / "upstream.pt").is_file()
    assert "distilled little_distilhubert; not scored" in proc.stderr
    assert not (tmp_path / "results").exists() and not (tmp_path / "exp" / "tiny").exists()


@pytest.mark.slow
def test_an_int8_row_is_its_students_file_quantised_and_loads_as_an_upstream(tiny_corpus, tmp_path):
    from upstream_distill.models import is_quantized, load_student

    (tmp_path / "students.yaml").write_text(RECIPES)
    proc = benchmark(tmp_path, tiny_corpus, "--student", "little_int8", "--distill-only")
    assert proc.returncode == 0, proc.stderr[-3000:]
    students = tmp_path / "exp" / "students" / "tiny"
    float_student = load_student(students / "little_distilhubert" / "upstream.pt")
    int8_student = load_student(students / "little_int8" / "upstream.pt")
    assert is_quantized(int8_student) and not is_quantized(float_student)
    wav = torch.randn(1, 16000)
    with torch.no_grad():
        expected, got = float_student(wav).hidden_states[-1], int8_student(wav).hidden_states[-1]
    assert ((got - expected).norm() / expected.norm()) < 0.1  # int8 Linears: a few per cent off


def test_an_int8_row_must_name_a_distilled_student(tmp_path):
    (tmp_path / "students.yaml").write_text("students:\n  x: {int8_of: nobody}\n")
    with pytest.raises(SystemExit, match="student x: int8_of must name a distilled student row"):
        read_recipes(tmp_path / "students.yaml")


@pytest.mark.slow
def test_a_student_of_a_replaced_teacher_is_set_aside_and_distilled_afresh(tiny_corpus, tmp_path):
    from upstream_distill.core.paths import TINY_HUBERT_CHECKPOINT
    from upstream_distill.models import load_teacher, save_teacher

    teacher = tmp_path / "teacher.pt"
    shutil.copyfile(TINY_HUBERT_CHECKPOINT, teacher)
    (tmp_path / "students.yaml").write_text(f"""
students:
  pupil:
    method: distilhubert
    override: "config.model.teacher.checkpoint='{teacher}',,config.runner.total_steps=2,,config.runner.save_step=2"
    cache_teacher: false
""")
    expdir = tmp_path / "exp" / "students" / "tiny" / "pupil"
    first = benchmark(tmp_path, tiny_corpus, "--student", "pupil", "--distill-only")
    assert first.returncode == 0, first.stderr[-3000:]
    first_export = (expdir / "upstream.pt").read_bytes()

    retrained = load_teacher(teacher)
    with torch.no_grad():
        next(retrained.parameters()).add_(0.5)
    save_teacher(retrained, teacher)
    second = benchmark(tmp_path, tiny_corpus, "--student", "pupil", "--distill-only")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "model.teacher.checkpoint replaced since it was distilled" in second.stderr
    assert (expdir.with_name("pupil.superseded") / "upstream.pt").read_bytes() == first_export
    assert (expdir / "upstream.pt").read_bytes() != first_export  # distilled again from the new teacher


@pytest.mark.slow
def test_a_student_whose_recipe_changed_is_set_aside_and_distilled_afresh(tiny_corpus, tmp_path):
    """run_pretrain.py refuses to resume a run under another config; the benchmark sees it first."""
    def recipe(override):
        (tmp_path / "students.yaml").write_text(f"""
students:
  pupil:
    method: distilhubert
    override: "config.runner.total_steps=2,,config.runner.save_step=2{override}"
    cache_teacher: false
""")

    expdir = tmp_path / "exp" / "students" / "tiny" / "pupil"
    recipe("")
    first = benchmark(tmp_path, tiny_corpus, "--student", "pupil", "--distill-only")
    assert first.returncode == 0, first.stderr[-3000:]
    first_export = (expdir / "upstream.pt").read_bytes()

    recipe(",,config.runner.log_step=1")  # a key that does not alter the student: the run stands
    same = benchmark(tmp_path, tiny_corpus, "--student", "pupil", "--distill-only")
    assert same.returncode == 0, same.stderr[-3000:]
    assert "set aside" not in same.stderr and (expdir / "upstream.pt").read_bytes() == first_export

    recipe(",,config.optimizer.lr=5.0e-4")
    second = benchmark(tmp_path, tiny_corpus, "--student", "pupil", "--distill-only")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "student pupil: config.optimizer.lr changed since it was distilled; old run set aside" in second.stderr, second.stderr[-4000:]
    assert (expdir.with_name("pupil.superseded") / "upstream.pt").read_bytes() == first_export
    assert (expdir / "upstream.pt").read_bytes() != first_export


@pytest.mark.slow
def test_a_recipe_seed_reaches_run_pretrain_and_changes_the_student(tiny_corpus, tmp_path):
    steps = "config.runner.total_steps=2,,config.runner.save_step=2"
    (tmp_path / "students.yaml").write_text(f"""
students:
  default_seed: {{method: distilhubert, override: "{steps}"}}
  seed_7: {{method: distilhubert, override: "{steps}", seed: 7}}
""")
    proc = benchmark(tmp_path, tiny_corpus, "--student", "default_seed", "--student", "seed_7", "--distill-only")
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = tmp_path / "exp" / "students" / "tiny"
    seeded = torch.load(runs / "seed_7" / "states-2.ckpt", map_location="cpu", weights_only=True)
    default = torch.load(runs / "default_seed" / "states-2.ckpt", map_location="cpu", weights_only=True)
    assert seeded["config"]["seed"] == 7 and default["config"]["seed"] != 7
    assert (runs / "seed_7" / "upstream.pt").read_bytes() != (runs / "default_seed" / "upstream.pt").read_bytes()


def test_distill_only_needs_students(tmp_path):
    (tmp_path / "students.yaml").write_text(RECIPES)
    proc = benchmark(tmp_path, tmp_path / "no_corpus", "-u", "fbank", "--distill-only")
    assert proc.returncode != 0 and "--distill-only: give the students" in proc.stderr


def test_unknown_students_and_studies_are_named(tmp_path):
    (tmp_path / "students.yaml").write_text(RECIPES)
    proc = benchmark(tmp_path, tmp_path / "no_corpus", "--student", "nobody")
    assert proc.returncode != 0 and "unknown student 'nobody'" in proc.stderr
    assert "little_distilhubert" in proc.stderr


def test_the_shipped_recipes_name_real_methods_and_configs():
    recipes = read_recipes()
    assert {"distilhubert", "star_hubert"} <= set(recipes.students)
    for study in recipes.studies.values():
        assert all(row in recipes.students or row in ("fbank", "tiny_hubert") for row in study.rows), study.name


def test_a_runs_figures_are_published_beside_the_tables(tmp_path):
    from upstream_distill.benchmark.students import publish_run_figures

    expdir = tmp_path / "exp" / "dphubert"
    (expdir / "prune").mkdir(parents=True)
    (expdir / "pruned_shape.png").write_bytes(b"final")
    (expdir / "prune" / "pruned_shape.png").write_bytes(b"stage 1")
    (expdir / "prune" / "layer_groups.png").write_bytes(b"groups")
    (expdir / "prune" / "sparsity.png").write_bytes(b"trajectory")
    published = publish_run_figures(expdir, "dphubert", tmp_path / "results" / "mini")
    assert sorted(p.name for p in published) == ["layer_groups_dphubert.png", "pruned_shape_dphubert.png",
                                                 "sparsity_dphubert.png"]
    assert (tmp_path / "results" / "mini" / "pruned_shape_dphubert.png").read_bytes() == b"final"
    assert publish_run_figures(tmp_path / "exp" / "distilhubert", "distilhubert", tmp_path / "results") == []
