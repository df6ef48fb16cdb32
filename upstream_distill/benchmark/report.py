"""How every file the benchmark writes is written: whole (a reader never sees half of it), and stamped
with the machine it was measured on."""
from __future__ import annotations

import os
import platform
from pathlib import Path

from ..core.atomic_files import write_atomically


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import torch

    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cpu} x{os.cpu_count()} cores{gpu}, torch {torch.__version__}"


def write_stamped_page(path: Path, title: str, command: str, body: str) -> Path:
    """A markdown page ``# title`` that names the command that wrote it, the machine and the date, then
    ``body``; written whole. Every measurement page of results/ starts this way."""
    import datetime

    text = (f"# {title}\n\nWritten by `{command}` on {machine_description()}, "
            f"{datetime.date.today().isoformat()}.\n\n{body}")
    write_atomically(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` then rename over ``path``: a reader never sees half a file."""
    write_atomically(path, write)
