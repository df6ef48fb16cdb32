"""What the benchmark measures of an upstream itself, before any task: size, cost, weights, speed.

The upstream is built as the harness builds it (s3prl's hub entry, ``-k`` when given), so the counts
are of what the tasks run: every parameter it holds, and the MACs of its forward on 10 s of audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict

from ..models import count_parameters
from .macs import AUDIO_SECONDS, upstream_macs
from .protocol import weights_fingerprint
from .speed import inference_seconds
from .upstream_spec import UpstreamSpec


@dataclass(frozen=True)
class UpstreamMeasures:
    params_m: float  # millions, every parameter the upstream holds
    macs_g: float  # billions of multiply-accumulates on AUDIO_SECONDS of audio
    fingerprint: str  # weights_fingerprint(): part of every run's protocol

    def columns(self) -> Dict[str, float]:
        return {"params_m": round(self.params_m, 2), "macs_g": round(self.macs_g, 3)}


class UnusableUpstream(ValueError):
    """An upstream the hub does not know, or whose checkpoint it cannot load; the message names the flag."""


def build_upstream(spec: UpstreamSpec, flag: str = "-u/--upstream"):
    """The upstream as the harness builds it (s3prl hub entry, with -k when given)."""
    from ..s3prl_bridge.hub import UnknownUpstream
    from ..s3prl_bridge.hub import build_upstream as build_hub_upstream

    try:
        return build_hub_upstream(spec.name, spec.ckpt)
    except UnknownUpstream:
        raise UnusableUpstream(f"{flag}: unknown upstream {spec.name!r}") from None
    except (OSError, ValueError) as err:
        raise UnusableUpstream(f"{flag} {spec.label}: {err}") from None


def measure(model) -> UpstreamMeasures:
    return UpstreamMeasures(count_parameters(model) / 1e6, upstream_macs(model, AUDIO_SECONDS) / 1e9,
                            weights_fingerprint(model))


def measure_upstream(spec: UpstreamSpec, flag: str = "-u/--upstream") -> UpstreamMeasures:
    return measure(build_upstream(spec, flag))


def relative_speeds(specs, reference: UpstreamSpec) -> Dict[UpstreamSpec, float]:
    """``reference time / upstream time`` on the same 10 s of audio, timed in turns in this run (so a
    background load slows all alike)."""
    models = {spec: build_upstream(spec) for spec in specs}
    if reference not in models:
        models[reference] = build_upstream(reference, "--speed-reference")
    seconds = inference_seconds({spec.label: model for spec, model in models.items()}, upstream_api=True)
    return {spec: seconds[reference.label] / seconds[spec.label] for spec in specs}
