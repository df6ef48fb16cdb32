"""The package as users install it: a wheel in a fresh virtual environment, run from outside the checkout.

The wheel is built the way ``python -m build`` builds it (an sdist of the checkout, then a wheel from the
unpacked sdist), so no ``build/`` folder is left in the checkout.  The fresh environment sees the project
environment's dependencies through a ``.pth`` path entry (nothing is downloaded); the package itself must
come from the wheel, and its configs, methods and shipped teacher from the wheel's package data.
"""
from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "upstream_distill"
ENTRY_POINTS = ("run_pretrain", "run_downstream", "run_benchmark", "run_export")
#: the checkout's methods: each must ship in the wheel
METHODS = tuple(sorted(p.parent.name for p in (REPO_ROOT / "pretrain").glob("*/pretrain_expert.py")))


def _run(cmd: List[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1")
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def _check(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc


def _dependency_paths() -> List[str]:
    """The project environment's site-packages (.venv/ may lie inside the checkout), as plain path entries: its
    .pth files, the editable install's finder among them, are not run."""
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    paths |= {p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")}
    return sorted(p for p in paths if Path(p).is_dir())


def _fresh_venv(root: Path, wheel: Path) -> Path:
    """A new venv holding only ``wheel``; the project's dependencies visible after the package's own site-packages."""
    _check(_run([sys.executable, "-m", "venv", "--without-pip", root], cwd=root.parent))
    python = root / "bin" / "python"
    # installed before the dependency paths are added, so that pip never sees the project's own install
    _check(_run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
                 "--no-cache-dir", "--disable-pip-version-check", wheel], cwd=root.parent))
    purelib = Path(_check(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               cwd=root.parent)).stdout.strip())
    (purelib / "_project_dependencies.pth").write_text("\n".join(_dependency_paths()) + "\n")
    return root


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    _check(_run([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})"],
                cwd=REPO_ROOT))
    (sdist,) = dist.glob("*.tar.gz")
    _check(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                 "--no-cache-dir", "--disable-pip-version-check", "-w", dist, sdist], cwd=dist))
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("installed") / "venv"
    assert not root.resolve().is_relative_to(REPO_ROOT), "the fresh environment must lie outside the checkout"
    return _fresh_venv(root, wheel)


@pytest.fixture
def workdir(tmp_path) -> Path:
    assert not tmp_path.resolve().is_relative_to(REPO_ROOT)
    return tmp_path


def _source_files(folder: Path, patterns=("**/*",)) -> Dict[str, Path]:
    found = {}
    for pattern in patterns:
        for path in folder.glob(pattern):
            rel = path.relative_to(REPO_ROOT)
            if path.is_file() and "__pycache__" not in rel.parts and not any(p.startswith(".") for p in rel.parts):
                found[rel.as_posix()] = path
    return found


def test_the_wheel_carries_the_package_and_its_data_and_nothing_else(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {name.split("/")[0] for name in names}
    assert tops == {PACKAGE, f"{PACKAGE}-0.1.0.dist-info"}, tops  # no tests/, data/, exp/, result(s)/, pretrain/
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".pyo"))]

    # every module of the checkout's package (a folder without __init__.py would silently be left out)
    modules = _source_files(REPO_ROOT / PACKAGE, ("**/*.py",))
    assert set(modules) <= names, sorted(set(modules) - names)
    # the checkout's root data folders, inside the package
    for folder, patterns in (("pretrain", ("**/*.yaml", "**/*.py")), ("downstream_configs", ("**/*",))):
        shipped = {f"{PACKAGE}/{rel}" for rel in _source_files(REPO_ROOT / folder, patterns)}
        assert shipped and shipped <= names, sorted(shipped - names)
    for method in METHODS:
        for file in ("config_model.yaml", "config_runner.yaml", "pretrain_expert.py"):
            assert f"{PACKAGE}/pretrain/{method}/{file}" in names
    for file in ("pretrain/students.yaml", "downstream_configs/data/char.dict", "downstream_configs/data/phoneme.txt",
                 "downstream_configs/tiny/ks.yaml", "downstream_configs/mini/ks.yaml",
                 "upstreams/tiny_hubert/tiny_hubert.pt", "upstreams/tiny_hubert/tiny_hubert.config.yaml",
                 "mini_superb/README.md"):
        assert f"{PACKAGE}/{file}" in names, file

    entry_points = zipfile.ZipFile(wheel).read(f"{PACKAGE}-0.1.0.dist-info/entry_points.txt").decode()
    for name in ENTRY_POINTS:
        assert f"{name} = " in entry_points


def test_the_installed_package_runs_from_the_wheel_not_the_checkout(venv, workdir):
    code = ("import upstream_distill, upstream_distill.core.paths as p; "
            "print(upstream_distill.__file__); print(p.CHECKOUT_ROOT); print(p.PRETRAIN_ROOT); "
            "print(p.DOWNSTREAM_CONFIG_ROOT); print(p.TINY_HUBERT_CHECKPOINT.is_file()); print(p.work_root())")
    lines = _check(_run([venv / "bin" / "python", "-c", code], cwd=workdir)).stdout.split("\n")
    package = Path(lines[0]).resolve().parent
    assert package.is_relative_to(venv) and not package.resolve().is_relative_to(REPO_ROOT), lines
    assert lines[1:] == ["None", str(package / "pretrain"), str(package / "downstream_configs"), "True",
                         str(workdir), ""]


@pytest.mark.parametrize("command", ENTRY_POINTS)
def test_every_entry_point_prints_its_usage(venv, workdir, command):
    proc = _check(_run([venv / "bin" / command, "--help"], cwd=workdir))
    assert "usage:" in proc.stdout


def test_run_pretrain_names_the_installed_methods(venv, workdir):
    proc = _run([venv / "bin" / "run_pretrain", "-u", "nope", "-p", "exp"], cwd=workdir)
    assert proc.returncode == 2
    assert "unknown method 'nope'; available: " + ", ".join(f"pretrain/{m}" for m in METHODS) in proc.stderr


def test_a_tiny_downstream_run_through_the_console_script(venv, workdir, tiny_corpus):
    """The installed tiny KS config on the tiny corpus; s3prl writes the relative -p under the working directory."""
    _check(_run([venv / "bin" / "run_downstream", "-m", "train", "-u", "fbank", "-d", "ks", "--preset", "tiny",
                 "--corpus", tiny_corpus, "-p", "exp/fbank_ks", "-o", "config.downstream_expert.datarc.num_workers=0"],
                cwd=workdir))
    expdir = workdir / "exp" / "fbank_ks"
    assert (expdir / "states-2.ckpt").is_file() and (expdir / "dev-best.ckpt").is_file()
    assert list(expdir.glob("config_*.yaml")) and list(expdir.glob("args_*.yaml"))


def test_a_users_own_config_files_work_by_path_with_the_shipped_teacher(venv, workdir, tiny_corpus):
    """One distillation step of distilhubert from -g/-c files in the working directory; the teacher is the wheel's."""
    package = next((venv / "lib").glob(f"python*/site-packages/{PACKAGE}"))
    method = package / "pretrain" / "distilhubert"
    (workdir / "my_model.yaml").write_text((method / "config_model.yaml").read_text())
    (workdir / "my_runner.yaml").write_text((method / "config_runner.yaml").read_text())
    _check(_run([venv / "bin" / "run_pretrain", "--threads", "1", "-u", "distilhubert", "-g", "my_model.yaml",
                 "-c", "my_runner.yaml", "--preset", "tiny", "--corpus", tiny_corpus, "-p", "exp/student",
                 "-o", "config.runner.total_steps=1,,config.runner.save_step=1"], cwd=workdir))
    expdir = workdir / "exp" / "student"
    assert (expdir / "upstream.pt").is_file() and (expdir / "states-1.ckpt").is_file()
    config = (expdir / "config.yaml").read_text()
    assert str(package / "upstreams" / "tiny_hubert" / "tiny_hubert.pt") in config


def test_the_editable_install_still_uses_the_checkout(tmp_path_factory):
    """``pip install -e .`` (tools/setup_env.sh, CI): the package and its data resolve to the checkout."""
    dist = tmp_path_factory.mktemp("editable")
    _check(_run([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_editable({str(dist)!r})"],
                cwd=REPO_ROOT))
    (editable,) = dist.glob("*.whl")
    root = _fresh_venv(dist / "venv", editable)
    code = ("import upstream_distill, upstream_distill.core.paths as p; "
            "print(upstream_distill.__file__); print(p.CHECKOUT_ROOT); print(p.PRETRAIN_ROOT); "
            "print(p.DOWNSTREAM_CONFIG_ROOT)")
    lines = _check(_run([root / "bin" / "python", "-c", code], cwd=dist)).stdout.split("\n")
    assert lines == [str(REPO_ROOT / PACKAGE / "__init__.py"), str(REPO_ROOT), str(REPO_ROOT / "pretrain"),
                     str(REPO_ROOT / "downstream_configs"), ""]
    assert set(ENTRY_POINTS) <= {p.name for p in (root / "bin").iterdir()}
