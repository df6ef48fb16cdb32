"""--probe-seeds through the real s3prl harness on the tiny corpus: two KS probes of FBANK, each in its
folder with its seed, pinned threads and recorded facts, and their mean ± sd in the tables."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from upstream_distill.benchmark import rows as score_table
from upstream_distill.s3prl_bridge.runtime import runtimes_in

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def benchmark(tmp_path, corpus, *extra):
    cmd = [sys.executable, str(REPO_ROOT / "run_benchmark.py"), "--preset", "tiny", "-u", "fbank", "--tasks", "ks",
           "--corpus", str(corpus), "--exp-root", str(tmp_path / "exp"), "--results", str(tmp_path / "results"),
           "--speed-reference", "none", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=300)


def test_two_probe_seeds_of_fbank_on_ks(tmp_path, tiny_corpus):
    proc = benchmark(tmp_path, tiny_corpus, "--probe-seeds", "2")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 task runs planned, 0 already finished (resumed), 2 to do" in proc.stderr
    runs = tmp_path / "exp" / "tiny" / "fbank"
    first, second = (json.loads((runs / name / "score.json").read_text()) for name in ("ks", "ks.seed2"))
    assert (first["seed"], first["s3prl_seed"], second["seed"], second["s3prl_seed"]) == (1, 1337, 2, 1338)
    assert second["protocol"] == first["protocol"] + "+seed2"
    for record, name in ((first, "ks"), (second, "ks.seed2")):
        assert (record["probe_threads"], record["probe_torch"]) == (2, torch.__version__)
        assert record["probe_device"] == ("cpu" if not torch.cuda.is_available() else record["probe_device"])
        train = (runs / name / "train.log").read_text()
        assert f"--seed {record['s3prl_seed']}" in train and "--threads 2" in train
        assert [r.threads for r in runtimes_in(train + (runs / name / "test.log").read_text())] == [2, 2]

    row, = score_table.read_rows(tmp_path / "results" / "tiny" / "scores.csv")
    mean = (first["percent"] + second["percent"]) / 2
    sd = abs(first["percent"] - second["percent"]) / 2 ** 0.5
    assert float(row["ks_acc"]) == pytest.approx(mean, abs=0.006)
    assert float(row["ks_acc_sd"]) == pytest.approx(sd, abs=0.006)
    assert (row["probe_seeds"], row["probe_threads"], row["probe_torch"]) == ("ks=2", "2", torch.__version__)
    cell = f"{row['ks_acc']} ± {float(row['ks_acc_sd']):.2f}"
    assert cell in (tmp_path / "results" / "tiny" / "scores.md").read_text()

    from upstream_distill.benchmark.cli import main

    (tmp_path / "results" / "tiny" / "scores.md").unlink()
    assert main(["--preset", "tiny", "--tables-only", "--results", str(tmp_path / "results")]) == 0
    md = (tmp_path / "results" / "tiny" / "scores.md").read_text()
    assert cell in md and "Seeds per row: `fbank` 2." in md
