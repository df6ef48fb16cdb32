"""Install with `pip install -e .` (see tools/setup_env.sh for the torch/torchaudio steps), or as a package
with `pip install .` (a wheel).

The checkout's `pretrain/` (the methods) and `downstream_configs/` (the task configs) are shipped inside the
package, as `upstream_distill/pretrain/` and `upstream_distill/downstream_configs/`, together with the shipped
teacher `tiny_hubert`; `upstream_distill.core.paths` finds them there when the package runs installed, and in
the checkout otherwise (also under `pip install -e .`).
"""
from setuptools import find_packages, setup

# root folder of the checkout -> the package it becomes in the wheel (data only; see package_data)
DATA_PACKAGES = {
    "upstream_distill.pretrain": "pretrain",
    "upstream_distill.downstream_configs": "downstream_configs",
}

setup(
    name="upstream_distill",
    version="0.1.0",
    description="Distil self-supervised speech models into small s3prl upstreams and score them on SUPERB",
    packages=find_packages(include=["upstream_distill", "upstream_distill.*"]) + sorted(DATA_PACKAGES),
    package_dir=DATA_PACKAGES,
    package_data={
        # one folder per method: config_model.yaml, config_runner.yaml, pretrain_expert.py, variants/*.yaml;
        # students.yaml (the benchmark's recipes and studies)
        "upstream_distill.pretrain": ["**/*.yaml", "**/*.py"],
        # <task>.yaml, tiny/ and mini/, data/char.dict and data/phoneme.txt
        "upstream_distill.downstream_configs": ["**/*.yaml", "**/*.dict", "**/*.txt"],
        # the shipped teacher, its configs and training logs
        "upstream_distill.upstreams.tiny_hubert": ["*.pt", "*.yaml", "*.jsonl", "*.log"],
        "upstream_distill.mini_superb": ["README.md"],
    },
    include_package_data=False,  # exactly the files above: no caches, no experiment folders
    entry_points={
        "console_scripts": [
            # the root scripts run_*.py stay for s3prl's habits; these are the same commands, installed
            "run_pretrain = upstream_distill.commands.pretrain:main",
            "run_downstream = upstream_distill.s3prl_bridge.run_downstream:main",
            "run_benchmark = upstream_distill.benchmark.cli:main",
            "run_export = upstream_distill.export.cli:main",
        ],
    },
    python_requires=">=3.9",
    install_requires=[
        # torch/torchaudio are installed first by tools/setup_env.sh so that pip
        # never swaps a CPU torch for a CUDA one to satisfy torchaudio's exact pin.
        "torch>=2.1",
        "torchaudio>=2.1",
        "espnet-s3prl>=2026.5",  # the maintained s3prl fork; PyPI `s3prl` fails at import
        "huggingface_hub<1.0",  # s3prl's runner imports Repository/HfFolder (gone in 1.x)
        "transformers<5",
        "numpy",
        "scipy",
        "soundfile",
        "PyYAML",
        "omegaconf",
        "tqdm",
        "tensorboard",
        "tensorboardX",
        "pandas",
        "librosa",
        "catalyst==22.4",  # s3prl's speech_commands expert imports its sampler
        "editdistance",
        "jiwer",
        "matplotlib",
        "safetensors",
        "filelock",
        "protobuf",
        # run_export: ONNX files and their check (torch.onnx's TorchScript exporter needs no onnxscript)
        "onnx",
        "onnxruntime",
        "submitit",  # run_benchmark.py --launcher slurm: one Slurm job per run
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "ruff"]},
)
