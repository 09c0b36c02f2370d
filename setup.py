"""wenmai: Chinese corpora in, analytics tables out (Apache Beam + our own PyTorch models).

The repository keeps the design card's top level (`pipelines/ models/ schemas/`), but after
installation they live under the `wenmai` namespace (`wenmai.pipelines`, ...), so nothing but
`wenmai` lands at the top of site-packages and our `models` never shadows a user's own.
"""
from setuptools import setup

PACKAGES = {
    "wenmai": "wenmai",
    "wenmai.benchmarks": "wenmai/benchmarks",
    "wenmai.cli": "wenmai/cli",
    "wenmai.pipelines": "pipelines",
    "wenmai.models": "models",
    "wenmai.schemas": "schemas",
}

setup(
    name="wenmai",
    version="0.1.0",
    description="Batch pipeline that turns Chinese text corpora into analytics tables",
    python_requires=">=3.11",  # PYTHONSAFEPATH keeps a checkout's wenmai/ off workers' paths
    packages=list(PACKAGES),
    package_dir=PACKAGES,
    package_data={"wenmai.models": ["weights/*/*.json", "weights/*/*.safetensors", "weights/*/*.md",
                                    "weights/*/*.txt"]},
    install_requires=[
        "apache-beam==2.77.0",
        # Pinned: a bare `torch` resolves to a multi-GB CUDA build on CPU machines. 2.13.0 is served
        # as a CPU wheel here; GPU images install the CUDA build of the same version first
        # (2.13.0+cuXXX satisfies this pin), see the Dockerfile.
        "torch==2.13.0",
        "pyarrow>=14",
        "numpy>=1.24",
        "faiss-cpu>=1.8",
        "jieba>=0.42",
        "igraph>=0.11",
        "infomap>=2.7",
        "safetensors>=0.4",
        "tqdm>=4.60",
        "scikit-learn>=1.3",
        "scipy>=1.10",
        "threadpoolctl>=3.1",  # training's --threads pins the BLAS pools too (trainer.pin_threads)
        "rouge>=1.0",  # ROUGE F1 as the CSL benchmark computes it (wenmai eval titler)
    ],
    extras_require={
        "gcp": ["apache-beam[gcp]==2.77.0"],
        "test": ["pytest>=7", "pytest-xdist>=3.5", "hypothesis>=6", "duckdb>=1.0"],
        # `wenmai bench bert` only: a randomly initialised BERT-base to race the encoder against;
        # `wenmai bench clusterers` only: umap-learn for BERTopic's default clusterer
        "bench": ["transformers>=4.40", "umap-learn>=0.5"],
    },
    entry_points={"console_scripts": ["wenmai=wenmai.cli:main"]},
)
