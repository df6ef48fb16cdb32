"""Register the project's upstreams into `s3prl.hub`.

s3prl's runner finds an upstream with `getattr(s3prl.hub, name)`, so adding the entry
functions of `upstream_distill/upstreams/*/hubconf.py` to that module before the runner
parses its arguments is all `-u` needs.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Dict, List, Optional


class UnknownUpstream(LookupError):
    """``-u NAME`` names no upstream of s3prl's hub or of this project."""


def project_entries() -> Dict[str, object]:
    """name -> entry function, from every `upstream_distill.upstreams.<pkg>.hubconf`."""
    import upstream_distill.upstreams as upstreams

    entries: Dict[str, object] = {}
    for info in pkgutil.iter_modules(upstreams.__path__):
        if not info.ispkg:
            continue
        hubconf = importlib.import_module(f"{upstreams.__name__}.{info.name}.hubconf")
        for name, fn in vars(hubconf).items():
            if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != hubconf.__name__:
                continue
            if name in entries:
                raise RuntimeError(f"upstream name {name!r} is defined twice ({entries[name].__module__}, {hubconf.__name__})")
            entries[name] = fn
    return entries


def register_upstreams() -> List[str]:
    """Add the project's entries to s3prl.hub; refuse to shadow one of s3prl's own names."""
    import s3prl.hub as hub

    added = []
    for name, fn in project_entries().items():
        existing = getattr(hub, name, None)
        if existing is not None and existing is not fn:
            raise RuntimeError(f"upstream name {name!r} of {fn.__module__} clashes with s3prl's own {name!r}")
        setattr(hub, name, fn)
        added.append(name)
    return added


def build_upstream(name: str, ckpt: Optional[str] = None):
    """The upstream that s3prl's runner builds for ``-u NAME [-k CKPT]`` (s3prl prepared first).

    UnknownUpstream for a name that is neither s3prl's nor the project's.
    """
    from . import prepare_s3prl

    prepare_s3prl()
    import s3prl.hub as hub

    entry = getattr(hub, name, None)
    if not callable(entry):
        raise UnknownUpstream(f"unknown upstream {name!r}")
    return entry(ckpt=ckpt) if ckpt else entry()
