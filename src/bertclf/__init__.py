"""bertclf: config-driven fine-tuning of BERT-family encoders for text classification."""

import os

# tensorflow_hub.KerasLayer only works with Keras 2, which TF >= 2.16 ships as the
# separate `tf_keras` package. This must be set before TensorFlow is first imported,
# and importing the package is the earliest point we control.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ log lines (CUDA probing on a machine with no GPU, oneDNN notices) drown the
# progress output a user actually wants on a CPU machine.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

# The Python API (bertclf/api.py), imported on first use so that `import bertclf` and
# `bertclf --help` stay instant: train, load, evaluate, sweep, and the types they return.
_API = ("train", "load", "evaluate", "sweep", "sweep_report", "Run", "Classifier")
__all__ = ["__version__", *_API, "BertclfError"]


def __getattr__(name: str):
    if name in _API:
        from bertclf import api

        return getattr(api, name)
    if name == "BertclfError":
        from bertclf.errors import BertclfError

        return BertclfError
    raise AttributeError(f"module 'bertclf' has no attribute {name!r}")
