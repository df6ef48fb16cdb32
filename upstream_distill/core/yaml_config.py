"""The YAML toolkit every config of the project goes through.

* :func:`read_yaml`: a mapping from a file, ``_inherit: base.yaml`` deep-merged
  under it (a variant states only what it changes);
* :func:`with_preset`: a file's ``presets: {tiny: {...}, mini: {...}}`` entry
  merged over its defaults (the embedded-corpus settings live beside the real
  ones, never in a copy);
* :func:`parse_overrides` / :func:`apply_overrides`: s3prl's ``-o
  config.a.b=value,,config.c=value``;
* :func:`substitute`: ``${name}`` placeholders;
* :func:`typed_section`: a mapping into a dataclass, unknown and missing keys
  named by their dotted config key.

Every problem is a :class:`~upstream_distill.core.errors.ConfigError` that
names the file, flag or key.
"""
from __future__ import annotations

import ast
import copy
import re
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple

import yaml

from .errors import ConfigError

__all__ = [
    "INHERIT_KEY",
    "PRESETS_KEY",
    "apply_overrides",
    "config_differences",
    "deep_merge",
    "parse_overrides",
    "preset_names",
    "read_yaml",
    "substitute",
    "typed_section",
    "unresolved_placeholders",
    "with_preset",
]

PRESETS_KEY = "presets"
INHERIT_KEY = "_inherit"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def read_yaml(path: Path, _seen: tuple = ()) -> dict:
    """A YAML mapping (an empty file is ``{}``); ConfigError names the file otherwise.

    ``_inherit: other.yaml`` (relative to the file) names a base config that
    this file is deep-merged over, so a variant states only what it changes.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.resolve() in _seen:
        raise ConfigError(f"config file {path}: '{INHERIT_KEY}' loops back to itself")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping, not a {type(data).__name__}")
    parent = data.pop(INHERIT_KEY, None)
    if parent is not None:
        data = deep_merge(read_yaml(path.parent / parent, _seen + (path.resolve(),)), data)
    return data


def deep_merge(base: Mapping, update: Mapping) -> dict:
    """``update`` over ``base``: mappings merge key by key, anything else replaces."""
    merged = copy.deepcopy(dict(base))
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def with_preset(data: dict, preset: Optional[str], source: Path) -> dict:
    """``data`` without its ``presets:`` block, that block's ``preset`` entry merged over it."""
    data = dict(data)
    presets = data.pop(PRESETS_KEY, None) or {}
    if not isinstance(presets, Mapping):
        raise ConfigError(f"{source}: '{PRESETS_KEY}' must map preset names to overrides")
    if preset is None:
        return data
    return deep_merge(data, presets.get(preset) or {})


def preset_names(data: Mapping) -> set:
    """The presets a file's ``presets:`` block defines."""
    return set(data.get(PRESETS_KEY) or {})


def parse_overrides(text: Optional[str]) -> List[Tuple[List[str], Any]]:
    """s3prl's ``-o`` syntax: ``config.a.b=1e-3,,config.c=['x', 'y']``.

    Values are Python literals (``ast.literal_eval``); anything else is a
    plain string (``config.datarc.libri_root=/data/LibriSpeech``).
    """
    if not text or text.strip().lower() == "none":
        return []
    parsed = []
    for option in text.split(",,"):
        option = option.strip()
        if not option:
            continue
        key, sep, raw = option.partition("=")
        key, raw = key.strip(), raw.strip()
        parts = key.split(".")
        if not sep or parts[0] != "config" or len(parts) < 2 or not all(parts):
            raise ConfigError(f"-o/--override: {option!r} is not of the form config.<key>[.<key>...]=<value>")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        parsed.append((parts[1:], value))
    return parsed


def apply_overrides(config: dict, overrides: List[Tuple[List[str], Any]]) -> dict:
    """A copy of ``config`` with each override set (intermediate mappings are created)."""
    config = copy.deepcopy(config)
    for path, value in overrides:
        node = config
        for i, part in enumerate(path[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"-o/--override: config.{'.'.join(path[:i + 1])} is a "
                                  f"{type(child).__name__}, not a mapping")
            node = child
        node[path[-1]] = value
    return config


def substitute(node: Any, replacements: Mapping[str, Any]) -> Any:
    """Replace ``${name}`` in every string of ``node``."""
    if isinstance(node, dict):
        return {k: substitute(v, replacements) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, replacements) for v in node]
    if isinstance(node, str):
        return _PLACEHOLDER.sub(lambda m: str(replacements.get(m.group(1), m.group(0))), node)
    return node


def unresolved_placeholders(node: Any, prefix: str = "config") -> List[str]:
    """``["config.datarc.libri_root = ${corpus}/LibriSpeech", ...]``."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += unresolved_placeholders(value, f"{prefix}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += unresolved_placeholders(value, f"{prefix}[{i}]")
    elif isinstance(node, str) and _PLACEHOLDER.search(node):
        found.append(f"{prefix} = {node}")
    return found


def config_differences(old: Any, new: Any, prefix: str = "config") -> List[str]:
    """Dotted keys whose values differ between two full configs."""
    if isinstance(old, dict) and isinstance(new, dict):
        diffs = []
        for key in sorted(set(old) | set(new), key=str):
            diffs += config_differences(old.get(key), new.get(key), f"{prefix}.{key}")
        return diffs
    return [] if old == new else [prefix]


def typed_section(cls, data: Any, section: str):
    """Dataclass ``cls`` from the mapping at config key ``section`` (dotted, without ``config.``);
    ConfigError names unknown and missing keys, and a value its ``__post_init__`` refuses."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config.{section} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    required = sorted(f.name for f in fields(cls)
                      if f.default is MISSING and f.default_factory is MISSING and f.name not in data)
    if unknown or required:
        problems = ([f"unknown keys {['config.%s.%s' % (section, k) for k in unknown]}"] if unknown else [])
        problems += ([f"missing keys {['config.%s.%s' % (section, k) for k in required]}"] if required else [])
        raise ConfigError(f"config.{section}: " + "; ".join(problems) + f" (known: {sorted(names)})")
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config.{section}: {err}") from None
