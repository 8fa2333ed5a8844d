"""bertclf: config-driven fine-tuning of BERT-family encoders for text classification.

Importing it changes nothing in the process: the environment TensorFlow needs (Keras 2 as
`tf.keras`, for TF Hub encoders) is set by the first call that imports TensorFlow
(bertclf.runtime.tf_setup.use_keras2), and quieter logs only by bertclf's own commands.
"""

__version__ = "0.1.0"

# The Python API (bertclf/api.py), imported on first use so that `import bertclf` and
# `bertclf --help` stay instant: train, load, evaluate, export, sweep, and the types they return.
_API = ("train", "load", "evaluate", "export", "sweep", "sweep_report", "Run", "Classifier")
__all__ = ["__version__", *_API, "BertclfError"]


def __getattr__(name: str):
    if name in _API:
        from bertclf import api

        return getattr(api, name)
    if name == "BertclfError":
        from bertclf.errors import BertclfError

        return BertclfError
    raise AttributeError(f"module 'bertclf' has no attribute {name!r}")
