"""Glue that lets the installed s3prl (espnet-s3prl fork) run this project's SUPERB tasks.

Importing this package is cheap: the heavy modules (torch, torchaudio,
s3prl) are imported only when :func:`prepare_s3prl` runs.
"""


def prepare_s3prl() -> dict:
    """Make the installed s3prl usable here; call before importing s3prl's experts.

    Applies the torch/torchaudio compatibility shims
    (:func:`upstream_distill.s3prl_bridge.compat.apply`), then registers the
    missing PR corpus reader
    (:func:`upstream_distill.s3prl_bridge.libriphone.install`), and adds the
    project's upstreams to ``s3prl.hub`` (:func:`upstream_distill.s3prl_bridge.hub.register_upstreams`).
    Idempotent. Returns ``{"compat": <shims applied>, "libriphone": <our reader is used>,
    "upstreams": <names registered>}``.
    """
    from . import compat, hub, libriphone

    shims = compat.apply()
    return {"compat": shims, "libriphone": libriphone.install(), "upstreams": hub.register_upstreams()}
