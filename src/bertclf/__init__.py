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
