"""--preset superb in run_downstream.py: the paper configs, paths from --data-root or a corpus's own flag, and
every missing path named with the flag that sets it (no s3prl run: these stop before the upstream)."""
from pathlib import Path

import pytest

from tests.conftest import SUPERB_LEXICONS
from upstream_distill.core.yaml_config import unresolved_placeholders
from upstream_distill.s3prl_bridge.real_corpora import CORPUS_PARTS, RealCorpora
from upstream_distill.s3prl_bridge.run_downstream import UsageError, build_s3prl_argv, load_task_config, read_config
from upstream_distill.s3prl_bridge.tasks import ALL_TASKS, TASKS, default_config


def superb_config(task: str, corpora: RealCorpora, fold=None, override=None) -> dict:
    return load_task_config(ALL_TASKS[task], default_config(ALL_TASKS[task], "superb"), None, fold, override, corpora)


def missing(task: str, corpora: RealCorpora, **kwargs) -> str:
    with pytest.raises(UsageError) as err:
        superb_config(task, corpora, **kwargs)
    return str(err.value)


def _without_paths(config):
    """The config with every corpus path value blanked (they are what the superb preset changes)."""
    if isinstance(config, dict):
        return {k: _without_paths(v) for k, v in config.items()}
    if isinstance(config, list):
        return [_without_paths(v) for v in config]
    return None if isinstance(config, str) and ("/path/to/" in config or "${" in config) else config


@pytest.mark.parametrize("task", sorted(ALL_TASKS))
def test_superb_configs_are_the_paper_configs_with_placeholder_paths(task):
    paper = read_config(default_config(ALL_TASKS[task], None))
    superb = read_config(default_config(ALL_TASKS[task], "superb"))
    assert _without_paths(superb) == _without_paths(paper)
    for key in ALL_TASKS[task].path_keys:
        node = superb
        for part in key.split("."):
            node = node[part]
        assert "/path/to/" not in str(node), key  # every corpus path is a placeholder of real_corpora.py


def test_every_path_follows_the_data_root_unless_its_own_flag_moves_it(empty_real_corpora, tmp_path):
    root = empty_real_corpora
    moved = tmp_path / "vox"
    (moved / "elsewhere").mkdir(parents=True)
    (moved / "elsewhere" / "split.txt").write_text("")
    corpora = RealCorpora(root, {"voxceleb1": moved, "voxceleb1_split": moved / "elsewhere" / "split.txt"})
    sid = superb_config("sid", corpora)["downstream_expert"]["datarc"]
    assert sid == {**sid, "file_path": str(moved), "meta_data": str(moved / "elsewhere" / "split.txt")}
    for task in TASKS:
        config = superb_config(task, corpora, fold="fold3" if task == "er" else None)
        assert unresolved_placeholders(config) == [], task
    pr = superb_config("pr", corpora)["downstream_expert"]["corpus"]
    assert pr["path"] == str(root / "LibriSpeech")
    assert pr["lexicon"] == [str(root / "lexicon" / name) for name in SUPERB_LEXICONS]
    assert corpora.flags() == ["--data-root", str(root), "--voxceleb1", str(moved),
                               "--voxceleb1-split", str(moved / "elsewhere" / "split.txt")]
    # a file inside a corpus moves with it: VoxCeleb1's split file without its own flag
    assert RealCorpora(root, {"voxceleb1": moved}).path("voxceleb1_split") == moved / "iden_split.txt"


def test_a_missing_lexicon_is_named_with_its_flag(empty_real_corpora):
    (empty_real_corpora / "lexicon" / SUPERB_LEXICONS[1]).unlink()
    message = missing("pr", RealCorpora(empty_real_corpora))
    assert f"--lexicon: {empty_real_corpora / 'lexicon' / SUPERB_LEXICONS[1]} does not exist" in message
    assert "--data-root's lexicon/" in message and SUPERB_LEXICONS[0] not in message.split("Expected")[0]


def test_a_missing_length_file_is_named_with_its_flag(empty_real_corpora):
    (empty_real_corpora / "len_for_bucket" / "test-clean.csv").unlink()  # read only at test time, a day later
    message = missing("asr", RealCorpora(empty_real_corpora))
    assert message.startswith("--len-for-bucket: length file of test-clean ")
    assert str(empty_real_corpora / "len_for_bucket" / "test-clean.csv") in message
    assert "upstream_distill.training.len_for_bucket" in message  # and how to write it
    (empty_real_corpora / "len_for_bucket" / "train-clean-100-1in10.csv").unlink()
    assert "train-clean-100-1in10.csv" in missing("asr_low", RealCorpora(empty_real_corpora))


def test_a_missing_split_file_and_fold_list_are_named_with_their_flags(empty_real_corpora, tmp_path):
    (empty_real_corpora / "VoxCeleb1" / "iden_split.txt").unlink()
    assert missing("sid", RealCorpora(empty_real_corpora)).startswith("--voxceleb1-split: ")
    (empty_real_corpora / "IEMOCAP" / "meta_data" / "Session4" / "test_meta_data.json").unlink()
    superb_config("er", RealCorpora(empty_real_corpora), fold="fold1")  # another fold's list is not read
    assert missing("er", RealCorpora(empty_real_corpora), fold="fold4").startswith("--iemocap-meta: fold4 list ")
    given = RealCorpora(empty_real_corpora, {"iemocap_meta": tmp_path / "nowhere"})
    assert "given by --iemocap-meta" in missing("er", given, fold="fold1")


def test_a_missing_corpus_is_named_with_its_flag_and_a_missing_root_with_data_root(empty_real_corpora, tmp_path):
    message = missing("ks", RealCorpora(tmp_path / "nowhere"))
    assert f"--speech-commands: {tmp_path / 'nowhere' / 'speech_commands_v0.01'} does not exist" in message
    assert "--speech-commands-test: " in message  # every missing path at once
    message = missing("asr", RealCorpora(None, {"librispeech": empty_real_corpora / "LibriSpeech"}))
    assert message.startswith("--len-for-bucket: not given") and "--data-root DIR" in message


def test_a_path_set_with_o_is_named_by_its_key(empty_real_corpora, tmp_path):
    override = f"config.downstream_expert.datarc.speech_commands_root='{tmp_path / 'mine'}'"
    message = missing("ks", RealCorpora(empty_real_corpora), override=override)
    assert "downstream_expert.datarc.speech_commands_root" in message and "-o" in message
    assert "--speech-commands" not in message


def test_cli_reads_the_data_root_and_refuses_corpus_flags_elsewhere(empty_real_corpora, tmp_path):
    (empty_real_corpora / "lexicon" / SUPERB_LEXICONS[0]).unlink()
    base = ["-m", "train", "-u", "fbank", "-d", "pr", "-p", str(tmp_path / "x")]
    with pytest.raises(UsageError, match="--lexicon: .*200k-g2p.txt does not exist"):
        build_s3prl_argv(base + ["--preset", "superb", "--data-root", str(empty_real_corpora)])
    with pytest.raises(UsageError, match="--librispeech: the real corpora are read by --preset superb only"):
        build_s3prl_argv(base + ["--librispeech", str(empty_real_corpora)])
    with pytest.raises(UsageError, match="--corpus: the embedded corpus"):
        build_s3prl_argv(base + ["--preset", "superb", "--corpus", str(tmp_path)])


def test_every_part_has_a_flag_and_a_place():
    flags = [part.flag for part in CORPUS_PARTS]
    assert len(set(flags)) == len(flags) and "--speech-commands-test" in flags
    assert {task for part in CORPUS_PARTS for task in part.tasks} == set(ALL_TASKS)
    assert Path(RealCorpora(Path("/d")).path("iemocap_meta")) == Path("/d/IEMOCAP/meta_data")
