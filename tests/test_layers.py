"""The house's floors: the package's rooms import only downward, and importing a model patches nothing.

The layer order is written once, here. A room is a sub-package of ``upstream_distill`` (or the
``pretrain/`` method folders); an import from one room to another is allowed when the imported room
stands on the same floor or lower. Imports inside functions count too: they are the same dependency,
only later. s3prl itself is reached only through the bridge.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "upstream_distill"

#: floors from the ground up; rooms on one floor may import each other
LAYERS: Tuple[Tuple[str, ...], ...] = (
    ("core",),  # paths, YAML toolkit, errors, provenance, the side-effect-free torchaudio import
    ("models",),  # networks, checkpoint import and export
    ("losses", "training", "pruning", "export"),  # formulas; the one runner; gates and real pruning; deployable files
    ("distill", "pretrain", "layer_groups"),  # targets, objectives, the expert; the methods; SKILL's layer groups
    ("s3prl_bridge", "upstreams", "mini_superb"),  # everything s3prl-specific; hub entries; the corpus
    ("benchmark", "commands"),  # on top
)
#: the only room that may import s3prl
S3PRL_ROOM = "s3prl_bridge"


def floor_of(room: str) -> int:
    for floor, rooms in enumerate(LAYERS):
        if room in rooms:
            return floor
    raise KeyError(f"room {room!r} is on no floor of LAYERS: add it to the layer order in {__file__}")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def room_of(module: str) -> str:
    """``upstream_distill.models.student`` -> ``models``; a method's expert file -> ``pretrain``."""
    parts = module.split(".")
    if parts[0] == "pretrain":
        return "pretrain"
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else ""


def imports_of(path: Path, module: str) -> Iterator[Tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names] if not node.module else [target]
            for name in names:
                yield node.lineno, name


def source_files(root: Path) -> Dict[Path, str]:
    """Every Python file of the package and of ``pretrain/``, with its module name."""
    files = {p: module_name(p, root) for p in (root / PACKAGE).rglob("*.py")}
    files.update({p: "pretrain." + module_name(p, root / "pretrain") for p in (root / "pretrain").rglob("*.py")})
    return files


def violations(root: Path) -> List[str]:
    found = []
    for path, module in sorted(source_files(root).items()):
        room = room_of(module)
        for line, target in imports_of(path, module):
            where = f"{path.relative_to(root)}:{line}"
            if target.split(".")[0] == "s3prl" and room != S3PRL_ROOM:
                found.append(f"{where} imports {target}: only {S3PRL_ROOM}/ may import s3prl")
            if not target.startswith(PACKAGE + ".") or not room:
                continue
            other = room_of(target)
            if other and other != room and floor_of(other) > floor_of(room):
                found.append(f"{where} ({room}, floor {floor_of(room) + 1}) imports {target} "
                             f"({other}, floor {floor_of(other) + 1})")
    return found


def test_the_rooms_import_only_downward():
    assert violations(REPO_ROOT) == []


def test_every_room_stands_on_a_floor():
    rooms = {room_of(module) for module in source_files(REPO_ROOT).values()} - {""}
    assert sorted(room for room in rooms if not any(room in floor for floor in LAYERS)) == []


@pytest.mark.parametrize("source, expected", [
    ("from upstream_distill.benchmark.report import atomic_write\n", "imports upstream_distill.benchmark.report"),
    ("def f():\n    from ..s3prl_bridge import prepare_s3prl\n", "imports upstream_distill.s3prl_bridge ("),
    ("import s3prl.hub\n", "only s3prl_bridge/ may import s3prl"),
])
def test_an_upward_import_is_caught(tmp_path, source, expected):
    """The walker itself: a planted import from models/ up to a higher room is reported."""
    (tmp_path / "pretrain").mkdir()
    models = tmp_path / PACKAGE / "models"
    models.mkdir(parents=True)
    for init in (tmp_path / PACKAGE / "__init__.py", models / "__init__.py"):
        init.write_text("")
    (models / "planted.py").write_text(source)
    found = violations(tmp_path)
    assert len(found) == 1 and expected in found[0] and "models/planted.py" in found[0]


def test_importing_the_library_patches_nothing():
    """torch's RNN forwards, torch.load's allow-list and torchaudio's I/O stay as they were: only
    ``prepare_s3prl()`` (the bridge) installs the s3prl shims."""
    code = """
import torch
lstm, load, allowed = torch.nn.LSTM.forward, torch.load, list(torch.serialization.get_safe_globals())
import upstream_distill.models, upstream_distill.losses, upstream_distill.training, upstream_distill.distill
from upstream_distill.models import TeacherModel, tiny_teacher_config
TeacherModel(tiny_teacher_config())
import torchaudio
assert torch.nn.LSTM.forward is lstm, "torch.nn.LSTM.forward was replaced"
assert torch.load is load, "torch.load was replaced"
assert list(torch.serialization.get_safe_globals()) == allowed, "torch.load's allow-list changed"
assert torchaudio.load.__module__.startswith("torchaudio"), torchaudio.load.__module__
assert "torchaudio.sox_effects" not in sys.modules or not getattr(
    sys.modules["torchaudio.sox_effects"], "_UPSTREAM_DISTILL_STAND_IN", False), "sox_effects stand-in installed"
assert not any(name == "s3prl" or name.startswith("s3prl.") for name in sys.modules), "s3prl was imported"
from upstream_distill.s3prl_bridge import prepare_s3prl
prepare_s3prl()
print(torch.nn.LSTM.forward is lstm, list(torch.serialization.get_safe_globals()) == allowed)
"""
    result = subprocess.run([sys.executable, "-c", "import sys\n" + code], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    # prepare_s3prl() does patch (here the CPU RNN route and the allow-list): the check above is not vacuous
    assert result.stdout.split() == ["False", "False"]
