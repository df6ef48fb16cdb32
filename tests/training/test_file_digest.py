"""A run's input files are identified by their bytes: the run record and the teacher-target cache."""
import os
import shutil

from upstream_distill.training.config import input_file_digests
from upstream_distill.training.file_digest import file_digest


def test_the_digest_follows_the_bytes_not_the_path_or_the_timestamp(tmp_path):
    first, copy = tmp_path / "teacher.pt", tmp_path / "elsewhere" / "teacher.pt"
    first.write_bytes(b"weights " * 1000)
    copy.parent.mkdir()
    shutil.copyfile(first, copy)
    assert file_digest(first) == file_digest(copy)
    stamp = first.stat()
    first.write_bytes(b"Weights " * 1000)  # re-trained: same size, and the old mtime put back
    os.utime(first, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert file_digest(first) != file_digest(copy)


def test_a_hugging_face_folder_is_one_input_and_caches_are_none(tmp_path):
    model = tmp_path / "hubert"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"a" * 64)
    cache = tmp_path / "cache"
    cache.mkdir()
    digests = input_file_digests({"teacher": {"checkpoint": str(model), "cache_dir": str(cache)}, "steps": "3"})
    assert set(digests) == {"model.teacher.checkpoint"}
    (model / "model.safetensors").write_bytes(b"b" * 64)
    assert input_file_digests({"teacher": {"checkpoint": str(model)}}) != digests
    # a file moved between names inside the folder is another model
    (model / "model.safetensors").rename(model / "pytorch_model.bin")
    moved = input_file_digests({"teacher": {"checkpoint": str(model)}})
    (model / "pytorch_model.bin").rename(model / "model.safetensors")
    assert moved != input_file_digests({"teacher": {"checkpoint": str(model)}})
