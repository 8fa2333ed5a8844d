"""Training: the fine-tuning loop, its callbacks and checkpoints, resuming, the input pipeline
and the TensorFlow runtime setup. Modules here import TensorFlow (most of them at load)."""
