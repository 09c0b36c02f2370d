"""wenmai (文脉): Chinese text corpora in, analytics tables out.

The installed package holds the command line and configuration (`wenmai`), the Beam stages
(`wenmai.pipelines`), our PyTorch models (`wenmai.models`) and the output schemas
(`wenmai.schemas`).
"""
__version__ = "0.1.0"
