"""The launcher config (downstream_configs/launcher.yaml, --launcher-config): sections merged per task, and
every mistake refused before anything is submitted, naming the flag, the file and the key."""
from __future__ import annotations

import pytest

from upstream_distill.benchmark.launch.config import (
    DEFAULT_LAUNCHER_CONFIG,
    DISTILL_SECTION,
    LauncherConfigError,
    read_launcher_config,
)


def written(tmp_path, text: str):
    path = tmp_path / "launcher.yaml"
    path.write_text(text)
    return path


def test_the_shipped_config_gives_asr_more_time_than_ks():
    config = read_launcher_config(DEFAULT_LAUNCHER_CONFIG)
    asr, ks = config.parameters("asr"), config.parameters("ks")
    assert asr["timeout_min"] > ks["timeout_min"] and asr["gpus_per_node"] == ks["gpus_per_node"] == 1
    assert config.parameters(DISTILL_SECTION)["timeout_min"] >= ks["timeout_min"]


def test_a_task_section_is_merged_over_the_defaults(tmp_path):
    config = read_launcher_config(written(tmp_path, """
defaults: {timeout_min: 60, mem_gb: 8, slurm_partition: gpu}
tasks: {asr: {timeout_min: 600}}
"""))
    assert config.parameters("asr") == {"timeout_min": 600, "mem_gb": 8, "slurm_partition": "gpu"}
    assert config.parameters("er") == {"timeout_min": 60, "mem_gb": 8, "slurm_partition": "gpu"}


@pytest.mark.parametrize("text, message", [
    ("tasks: {asrr: {timeout_min: 5}}", "tasks: unknown task(s) asrr (did you mean asr?)"),
    ("default: {timeout_min: 5}", "unknown section(s) default (did you mean defaults?)"),
    ("defaults: {slurm_partiton: gpu}", "defaults: Unknown argument 'partiton' for executor 'slurm'"),
    ("tasks: {ks: {timeout_min: '2h'}}", "tasks.ks: Parameter \"timeout_min\" expected type"),
    ("distill: [1, 2]", "distill must be a mapping of parameters"),
])
def test_a_mistake_is_refused_naming_the_flag_file_and_key(tmp_path, text, message):
    path = written(tmp_path, text)
    with pytest.raises(LauncherConfigError) as err:
        read_launcher_config(path)
    assert str(err.value).startswith(f"--launcher-config {path}: ") and message in str(err.value)


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(LauncherConfigError, match="--launcher-config: .*nope.yaml does not exist"):
        read_launcher_config(tmp_path / "nope.yaml")
