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
import difflib
import os
import re
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Iterable, List, Mapping, Optional, Tuple

import yaml

from .errors import ConfigError

__all__ = [
    "INHERIT_KEY",
    "PRESETS_KEY",
    "apply_overrides",
    "config_differences",
    "deep_merge",
    "did_you_mean",
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
#: a second setting inside a value: ``config.a=1,config.b=2`` (one comma where s3prl's syntax wants two)
_JOINED_SETTING = re.compile(r",\s*config\.")
#: how a Python literal that is not a bare word starts: such a value that does not parse is a typo, not a string
_LITERAL_START = tuple("'\"[{(")


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

    Values are Python literals (``ast.literal_eval``); a bare word that is not
    one is a plain string (``config.datarc.libri_root=/data/LibriSpeech``).
    ConfigError names the setting that has no ``=``, a quoted or bracketed value
    that does not parse, and two settings joined by one comma: that value would
    otherwise swallow the next setting as part of a string, silently.
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
        if not raw:
            raise ConfigError(f"-o/--override: {key} has no value (write {key}=None for none, {key}='' for an "
                              f"empty string)")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            if _JOINED_SETTING.search(raw):
                raise ConfigError(f"-o/--override: {option!r} joins two settings with one comma; separate "
                                  f"them with two, as s3prl does: config.a=1,,config.b=2") from None
            if raw.startswith(_LITERAL_START):
                raise ConfigError(f"-o/--override: {key}={raw} is not a valid Python literal (quote a string "
                                  f"as '...', close every bracket)") from None
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


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """``" (did you mean PREFIX+X?)"`` for the closest of ``choices`` (difflib), or ``""``."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


def typed_section(cls, data: Any, section: str):
    """Dataclass ``cls`` from the mapping at config key ``section`` (dotted, without ``config.``);
    ConfigError names unknown keys (with the nearest known one), missing keys, a value of the wrong
    type for a field annotated ``int``, ``float``, ``bool`` or ``str`` (optionally ``Optional``), and
    a value its ``__post_init__`` refuses."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"config.{section} must be a mapping, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    required = sorted(f.name for f in fields(cls)
                      if f.default is MISSING and f.default_factory is MISSING and f.name not in data)
    if unknown or required:
        problems = [f"unknown keys {['config.%s.%s' % (section, k) for k in unknown]}"
                    + "".join(did_you_mean(str(k), names, f"config.{section}.") for k in unknown)] if unknown else []
        problems += ([f"missing keys {['config.%s.%s' % (section, k) for k in required]}"] if required else [])
        raise ConfigError(f"config.{section}: " + "; ".join(problems) + f" (known: {sorted(names)})")
    data = _checked_types(cls, data, section)
    try:
        return cls(**data)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"config.{section}: {err}") from None


_EXPECTED = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _checked_types(cls, data: Mapping, section: str) -> dict:
    """``data`` with each scalar field's value checked against its annotation: ``-o`` values are
    Python literals, so ``total_steps=1e3`` is a float and ``total_steps='ten'`` a string, and
    without this check they reach the run (or a conversion error that names no key)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that does not resolve (a name imported for type checking only): no checks
        return dict(data)
    checked = dict(data)
    for name, value in data.items():
        expected = _scalar_type(hints.get(name))
        if expected is None or (value is None and _is_optional(hints.get(name))):
            continue
        if expected in (int, float) and isinstance(value, str):
            # a number in a string is still that number: YAML 1.1 reads 1e-3 (no dot in the mantissa) as a
            # string, and some sections document the coercion ('1000' for an int); 'ten' and '1e3' (an int) are not
            try:
                checked[name] = expected(value)
                continue
            except ValueError:
                pass
        if _matches(value, expected):
            continue
        got = f"{value!r} ({type(value).__name__})"
        if expected is int and isinstance(value, float) and value.is_integer():
            got += f"; write {int(value)}"
        raise ConfigError(f"config.{section}.{name}: expected {_EXPECTED[expected]}, got {got}")
    return checked


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) is typing.Union and type(None) in typing.get_args(hint)


def _scalar_type(hint: Any) -> Optional[type]:
    """``int``/``float``/``bool``/``str`` for such a field (``Optional`` too); None for anything else."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    return hint if hint in _EXPECTED else None


def _matches(value: Any, expected: type) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # True is an int to Python, never to a config
        return False
    if expected is float:
        return isinstance(value, (int, float))
    if expected is str:  # a config built in Python may hold a Path where YAML holds a string
        return isinstance(value, (str, os.PathLike))
    return isinstance(value, expected)
