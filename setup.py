"""Install with `pip install -e .` (see tools/setup_env.sh for the torch/torchaudio steps)."""
from setuptools import find_packages, setup

setup(
    name="upstream_distill",
    version="0.1.0",
    description="Distil self-supervised speech models into small s3prl upstreams and score them on SUPERB",
    packages=find_packages(include=["upstream_distill", "upstream_distill.*"]),
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
    ],
    extras_require={"test": ["pytest"]},
)
