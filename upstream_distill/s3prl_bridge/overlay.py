"""A module seen through a few replaced attributes, for shims that must reach only one s3prl module.

s3prl's modules call ``torch.save``, ``os.remove`` or ``torchaudio.load`` through their module globals.
Replacing such a global by an :class:`Overlay` changes what that one module gets, while torch, os and
torchaudio themselves, and every other user of them in the process, stay untouched.
"""
from __future__ import annotations

import types

__all__ = ["Overlay", "overlay"]


class Overlay(types.ModuleType):
    """``module`` with ``replaced`` attributes; every other attribute is looked up on ``module`` at use."""

    def __init__(self, module: types.ModuleType, replaced: dict):
        super().__init__(module.__name__, module.__doc__)
        self.__dict__.update(replaced)
        self.__dict__["_overlaid"] = module
        self.__dict__["_replaced"] = dict(replaced)

    def __getattr__(self, name):  # only called for names not replaced
        return getattr(self.__dict__["_overlaid"], name)


def overlay(owner: types.ModuleType, name: str, **replaced) -> Overlay:
    """Set ``owner.<name>`` to an Overlay of the module it holds.

    Calling it again for the same global merges the replacements (the latest wins per attribute) into
    one overlay of the real module, so shims never stack on one another.
    """
    current = getattr(owner, name)
    if isinstance(current, Overlay):
        module, replaced = current.__dict__["_overlaid"], {**current.__dict__["_replaced"], **replaced}
    else:
        module = current
    view = Overlay(module, replaced)
    setattr(owner, name, view)
    return view
