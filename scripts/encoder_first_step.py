"""Times an encoder SavedModel as training meets it: loading, the first (traced) step, steady steps.

    python scripts/encoder_first_step.py ENCODER_SAVEDMODEL [--repeats 2]

ENCODER_SAVEDMODEL is an encoder folder's `encoder/` (say, from `bertclf models convert`). A
`hub.KerasLayer` of it under a dense head is compiled with Adam, in float32, and trained on a
batch of 8 x 16 ids; printed per repeat, all in one process: the load, the first training step
(tracing and the first run), a second step and a first prediction. docs/encoders.md compares
two encoder formats with it, alternating their folders.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tensorflow_hub's KerasLayer needs Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def one_repeat(path: str) -> tuple[float, float, float, float]:
    import numpy as np
    import tensorflow_hub as hub
    import tf_keras

    begun = time.perf_counter()
    layer = hub.KerasLayer(path, trainable=True)
    loaded = time.perf_counter() - begun
    inputs = {name: tf_keras.Input([None], dtype="int32", name=name)
              for name in ("input_word_ids", "input_mask", "input_type_ids")}
    model = tf_keras.Model(inputs, tf_keras.layers.Dense(2)(layer(inputs)["pooled_output"]))
    model.compile(optimizer=tf_keras.optimizers.legacy.Adam(1e-3),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    batch = {"input_word_ids": np.ones([8, 16], np.int32), "input_mask": np.ones([8, 16], np.int32),
             "input_type_ids": np.zeros([8, 16], np.int32)}
    labels = np.zeros([8], np.int32)
    timings = []
    for step in (lambda: model.train_on_batch(batch, labels), lambda: model.train_on_batch(batch, labels),
                 lambda: model.predict_on_batch(batch)):
        begun = time.perf_counter()
        step()
        timings.append(time.perf_counter() - begun)
    return (loaded, *timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for repeat in range(1, args.repeats + 1):
        load, first, second, predict = one_repeat(args.encoder)
        print(f"{args.encoder} #{repeat}: load {load:.2f} s, first step {first:.2f} s, "
              f"second {second:.2f} s, first prediction {predict:.2f} s", flush=True)


if __name__ == "__main__":
    main()
