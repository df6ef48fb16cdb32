"""The project's upstreams appear in s3prl.hub, where the runner looks them up."""
import pytest

from upstream_distill.s3prl_bridge import hub, prepare_s3prl


def test_project_upstreams_are_registered_in_s3prl_hub():
    report = prepare_s3prl()
    import s3prl.hub as s3prl_hub

    assert "teacher_local" in report["upstreams"]
    from upstream_distill.upstreams.teacher.hubconf import teacher_local

    assert s3prl_hub.teacher_local is teacher_local
    assert callable(s3prl_hub.fbank)  # s3prl's own entries stay


def test_a_name_clash_with_s3prl_is_refused(monkeypatch):
    prepare_s3prl()
    import s3prl.hub as s3prl_hub

    def fbank(*args, **kwargs):  # pretends to be a project entry named like s3prl's fbank
        raise AssertionError("never called")

    monkeypatch.setattr(hub, "project_entries", lambda: {"fbank": fbank})
    with pytest.raises(RuntimeError, match="clashes with s3prl's own 'fbank'"):
        hub.register_upstreams()
    assert s3prl_hub.fbank is not fbank
