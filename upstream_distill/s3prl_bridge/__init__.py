"""Glue that lets the installed s3prl (espnet-s3prl fork) run this project's SUPERB tasks.

Importing this package is cheap: the heavy modules (torch, torchaudio,
s3prl) are imported only when :func:`prepare_s3prl` runs.
"""


def prepare_s3prl() -> dict:
    """Make the installed s3prl usable here; call before importing s3prl's experts.

    Applies the torch/torchaudio compatibility shims
    (:func:`upstream_distill.s3prl_bridge.compat.apply`), then registers the
    missing PR corpus reader
    (:func:`upstream_distill.s3prl_bridge.libriphone.install`), adds the
    project's upstreams to ``s3prl.hub`` (:func:`upstream_distill.s3prl_bridge.hub.register_upstreams`),
    and makes s3prl's downstream runs fail safe: crash-safe checkpoints
    (:func:`.checkpoints.install`), dataloader workers that die with their parent
    (:func:`.workers.install`), and audio checked against what each task reads
    (:func:`.audio_format.install`).
    Idempotent. Returns ``{"compat": <shims applied>, "libriphone": <our reader is used>,
    "upstreams": <names registered>, "checkpoints": bool, "workers": bool, "audio_format": bool}``
    (the last three: whether that safeguard is in effect).
    """
    from . import audio_format, checkpoints, compat, hub, libriphone, workers

    shims = compat.apply()
    report = {"compat": shims, "libriphone": libriphone.install(), "upstreams": hub.register_upstreams()}
    report.update(checkpoints=checkpoints.install(), workers=workers.install(), audio_format=audio_format.install())
    return report
