"""Our PyTorch models, their losses, the trainer, Beam model handlers and the shipped weights.

Installed as `wenmai.models`. The shipped weights live in `weights/<model>/` (safetensors + JSON
config + vocabulary + model card); `DEFAULT_MODELS_DIR` points there.
"""
from pathlib import Path

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent / "weights"
