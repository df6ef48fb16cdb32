"""Renaming a state dict between two module layouts, by ordered prefix rules, both ways.

A rule is ``(ours, theirs)``: two key prefixes in which ``{i}`` stands for a
number (a layer or block index) that the other side keeps.  The first rule
whose prefix matches renames a key; a key no rule matches is *reported*, not
passed on, so a format that grows a tensor we do not know fails loudly.
"""
from __future__ import annotations

import re
from typing import Dict, List, Mapping, Sequence, Tuple

__all__ = ["Rules", "rename"]

Rules = Sequence[Tuple[str, str]]


def _compiled(prefix: str) -> "re.Pattern[str]":
    return re.compile("^" + re.escape(prefix).replace(r"\{i\}", r"(\d+)"))


def rename(state: Mapping[str, object], rules: Rules, reverse: bool = False) -> Tuple[Dict[str, object], List[str]]:
    """``(renamed state, keys no rule matched)``; ``reverse`` renames theirs -> ours."""
    compiled = [(_compiled(b if reverse else a), a if reverse else b) for a, b in rules]
    out, unknown = {}, []
    for key, value in state.items():
        for pattern, target in compiled:
            match = pattern.match(key)
            if match:
                prefix = target
                for index in match.groups():
                    prefix = prefix.replace("{i}", index, 1)
                out[prefix + key[match.end():]] = value
                break
        else:
            unknown.append(key)
    return out, unknown
