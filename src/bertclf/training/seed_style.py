"""The TF "Classify text with BERT" tutorial's whole process, timed by phase, for `bertclf bench --whole-process`.

What users ran before bertclf, on the same config's data and encoder: the
preprocessor as a `hub.KerasLayer` inside the Keras model (every step
tokenizes strings, every batch padded to `model.seq_length`), float32,
tf-models-official's AdamW with linear warmup and decay, `model.fit` with the
validation split scored each epoch, `model.evaluate` on test, `model.save`.
It shares bertclf's data reading, so the two processes read the same examples;
everything after that is the tutorial's.

Run as `python -m bertclf.training.seed_style CONFIG [--set key=value ...]`; it
prints one JSON object: `{"phases": {...}, "total_seconds": ...}` plus the
validation and test accuracy.
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from bertclf.training.phases import PhaseTimer  # noqa: E402


def run_seed_style(config, timer: PhaseTimer, output_dir: Path) -> dict:
    """Trains, scores and saves the config's task the tutorial's way; returns its accuracies."""
    from bertclf.data import load_data

    with timer.phase("data"):
        data = load_data(config.data, config.experiment.seed)
    with timer.phase("import"):
        from bertclf.runtime.tf_setup import setup_tensorflow

        tf = setup_tensorflow(config.runtime, config.experiment.seed)
        import tensorflow_hub as hub
        import tensorflow_text  # noqa: F401
        import tf_keras
        from official.nlp import optimization
    with timer.phase("encoder"):
        from bertclf.encoders import prepare_encoder
        from bertclf.encoders.registry import resolve_spec

        encoder = prepare_encoder(resolve_spec(config.model), config.model, data.train.texts,
                                  config.experiment.seed)
        num_classes = len(data.class_names)
        texts = tf_keras.layers.Input(shape=(), dtype=tf.string, name="text")
        # The tutorial's preprocessing model: tokenize, then pack to a fixed length.
        preprocessor = hub.load(encoder.preprocess_handle)
        tokenize = hub.KerasLayer(preprocessor.tokenize)
        pack = hub.KerasLayer(preprocessor.bert_pack_inputs,
                              arguments={"seq_length": config.model.seq_length})
        inputs = pack([tokenize(texts)])
        outputs = hub.KerasLayer(encoder.encoder_handle, trainable=True, name="encoder")(inputs)
        hidden = tf_keras.layers.Dropout(config.model.dropout)(outputs["pooled_output"])
        logits = tf_keras.layers.Dense(num_classes, name="classifier")(hidden)
        model = tf_keras.Model(texts, logits)
        steps = -(-len(data.train) // config.train.batch_size) * config.train.epochs
        optimizer = optimization.create_optimizer(init_lr=config.train.learning_rate, num_train_steps=steps,
                                                  num_warmup_steps=int(config.train.warmup_fraction * steps),
                                                  optimizer_type="adamw")
        model.compile(optimizer=optimizer,
                      loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])

    def dataset(split, shuffle: bool):
        result = tf.data.Dataset.from_tensor_slices((split.texts, split.labels))
        if shuffle:
            result = result.shuffle(len(split), seed=config.experiment.seed)
        return result.batch(config.train.batch_size).prefetch(tf.data.AUTOTUNE)

    with timer.phase("fit"):
        history = model.fit(dataset(data.train, True), validation_data=dataset(data.validation, False),
                            epochs=config.train.epochs, verbose=0)
    result = {"validation_accuracy": float(history.history["val_accuracy"][-1])}
    if data.test is not None:
        with timer.phase("test_scoring"):
            result["test_accuracy"] = float(model.evaluate(dataset(data.test, False), verbose=0)[1])
    with timer.phase("export"):
        model.save(str(output_dir / "model"), include_optimizer=False)
    return result


def main(argv=None) -> int:
    """Command-line entry: CONFIG and --set overrides, as `bertclf train` takes them."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--output-dir", type=Path, default=None)
    arguments = parser.parse_args(argv)
    from bertclf.config import load_config

    timer = PhaseTimer(_STARTED)
    config = load_config(arguments.config, arguments.overrides)
    with tempfile.TemporaryDirectory() as scratch:
        result = run_seed_style(config, timer, arguments.output_dir or Path(scratch))
    result.update(timer.record())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
