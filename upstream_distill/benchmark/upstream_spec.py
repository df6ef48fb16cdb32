"""A row of the benchmark: an s3prl hub upstream, with its checkpoint and row name."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional


@dataclass(frozen=True)
class UpstreamSpec:
    """`-u NAME` or `-u NAME:CKPT` on the benchmark's command line."""

    name: str
    ckpt: Optional[str] = None
    alias: Optional[str] = None  # the row name, when given (a distilled student's recipe name)

    @classmethod
    def parse(cls, text: str) -> "UpstreamSpec":
        name, _, ckpt = text.partition(":")
        return cls(name, ckpt or None)

    @property
    def label(self) -> str:
        """The row name: the alias, else the upstream plus the checkpoint's experiment folder."""
        if self.alias:
            return self.alias
        if self.ckpt is None:
            return self.name
        ckpt = Path(self.ckpt)
        return f"{self.name}({ckpt.parent.name or ckpt.stem})"

    def upstream_flags(self) -> List[str]:
        return ["-u", self.name] + (["-k", self.ckpt] if self.ckpt else [])
