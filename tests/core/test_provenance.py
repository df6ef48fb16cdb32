"""The one digest rule of input files and caches: a file is identified by its bytes."""
import os
import shutil

from upstream_distill.core.provenance import file_digest


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
