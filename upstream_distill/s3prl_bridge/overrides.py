"""``-o/--override`` checked before s3prl applies it.

s3prl's ``override`` (s3prl/utility/helper.py) splits ``-o`` at ``,,`` and each pair at ``=``, and sets
``config.<dotted.key>`` (creating every missing level) or ``args.<name>``; any other first field is
ignored. So a misspelt key (``config.runner.total_step=3``) trained silently with the value it was meant
to change, and a pair without ``=`` died in ``ValueError: not enough values to unpack``.

A key absent from the config is not always a mistake: s3prl's runner and experts read optional keys
with defaults (``config.runner.fp16``, ``config.specaug``, ...), which ``-o`` may add. So an absent key
is refused only when it is a near miss (``difflib.get_close_matches``) of a key at the same level, the
mark of a typo; the message names the key and the nearest one.
"""
from __future__ import annotations

import argparse
import difflib
from typing import List, Optional, Tuple

from .errors import UsageError

__all__ = ["check_override", "check_overrides_in_s3prl", "parse_override"]

_CUTOFF = 0.8  # 'total_step' vs 'total_steps' scores 0.95; 'train_dataloader' vs 'eval_dataloaders' 0.75


def parse_override(text: str) -> List[Tuple[str, str]]:
    """``[(key, value text), ...]`` of an ``-o`` string; UsageError naming a malformed pair."""
    pairs = []
    for option in text.split(",,"):
        option = option.strip()
        if "=" not in option:
            raise UsageError(f"-o/--override: {option!r} is not a KEY=VALUE pair "
                             f"(pairs are separated by ',,', e.g. config.runner.total_steps=100)")
        if option.count("=") > 1:
            raise UsageError(f"-o/--override: {option!r} has more than one '=' (s3prl splits each pair "
                             f"at '=', so a value cannot contain one)")
        key, value = (part.strip() for part in option.split("="))
        first, *rest = key.split(".")
        if first not in ("config", "args") or not rest or not all(rest):
            raise UsageError(f"-o/--override: key {key!r} must be config.<section>.<key> or args.<name>")
        if first == "args" and len(rest) != 1:
            raise UsageError(f"-o/--override: key {key!r}: args take one name, e.g. args.seed")
        pairs.append((key, value))
    return pairs


def _near_miss(name: str, known) -> Optional[str]:
    close = difflib.get_close_matches(name, [k for k in known if isinstance(k, str)], n=1, cutoff=_CUTOFF)
    return close[0] if close else None


def _check_config_key(key: str, config: dict) -> None:
    node, path = config, ["config"]
    parts = key.split(".")[1:]
    for depth, part in enumerate(parts):
        if not isinstance(node, dict):
            raise UsageError(f"-o/--override: key {key!r}: {'.'.join(path)} is a value, not a section")
        if part not in node:
            nearest = _near_miss(part, node)
            if nearest is not None:
                raise UsageError(f"-o/--override: {key!r} is not a key of the config; "
                                 f"did you mean {'.'.join(path + [nearest] + parts[depth + 1:])}?")
            return  # a new key (or section) that s3prl will add
        node, path = node[part], path + [part]


def check_override(text: str, config: dict, args: Optional[argparse.Namespace] = None) -> None:
    """Raise UsageError for a malformed pair or a misspelt key of ``config`` (and of ``args`` if given)."""
    for key, _ in parse_override(text):
        if key.startswith("config."):
            _check_config_key(key, config)
        elif args is not None:
            name = key.split(".", 1)[1]
            if name not in vars(args) and (nearest := _near_miss(name, vars(args))) is not None:
                raise UsageError(f"-o/--override: {key!r} is not one of s3prl's arguments; "
                                 f"did you mean args.{nearest}?")


def check_overrides_in_s3prl(run_downstream_module) -> None:
    """Check ``-o`` where s3prl applies it, against the config it applies to.

    On ``-e`` (and on ``-a`` with checkpoints) s3prl takes the config from the checkpoint, which only
    s3prl's own ``get_downstream_args`` reads; wrapping the ``override`` it calls checks the keys there.
    """
    original = getattr(run_downstream_module.override, "__wrapped__", run_downstream_module.override)

    def override(string, args, config):
        check_override(string, config, args)
        return original(string, args, config)

    override.__wrapped__ = original
    run_downstream_module.override = override
