"""A scoring command's plan: students to distil, runs to train, runs already done."""
import json


def test_the_plan_says_students_to_distil_runs_to_train_and_runs_done(tmp_path):
    from upstream_distill.benchmark.plan import BenchmarkPlan, plan_runs
    from upstream_distill.benchmark.upstream_spec import UpstreamSpec

    fbank = UpstreamSpec("fbank")
    runs = plan_runs([fbank], ["ks", "sid"], 5, tmp_path, "tiny", {fbank: "w0"})
    runs[0].expdir.mkdir(parents=True)
    runs[0].score_file.write_text(json.dumps({"protocol": str(runs[0].protocol)}))
    plan = BenchmarkPlan(to_distil=["new"], distilled=["old"], runs=runs, runs_of_students_to_distil=["ks", "sid"])
    assert plan.describe() == ["students: 1 to distil (new), 1 distilled before (old)",
                               "4 task runs planned, 1 already finished (resumed), 3 to do (2 of the students still "
                               "to distil)"]
    assert plan.step_kinds() == ["check distilled", "distil", "ks", "sid", "sid"]
