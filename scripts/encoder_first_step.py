"""Times an encoder SavedModel as training meets it: loading, the first (traced) step, steady steps.

    python scripts/encoder_first_step.py ENCODER_SAVEDMODEL [--repeats 2]

ENCODER_SAVEDMODEL is an encoder folder's `encoder/` (say, from `bertclf models convert`). A
`hub.KerasLayer` of it under a dense head is compiled with Adam, in float32, and trained on a
batch of 8 x 16 ids; printed per repeat, all in one process: the load, the first training step
(tracing and the first run), a second step and a first prediction. docs/encoders.md compares
two encoder formats with it, alternating their folders.

    python scripts/encoder_first_step.py ENCODER_SAVEDMODEL --repeats 3 --as-bertclf

builds the layer as `bertclf train` does (`bertclf.encoders.encoder_layer`) and releases each
repeat's model when it is done, as a finished run does: from the second repeat on, the loaded
encoder is handed on (`bertclf.encoders.loaded_encoders`). docs/BENCHMARKS.md compares the two.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tensorflow_hub's KerasLayer needs Keras 2
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def one_repeat(path: str, as_bertclf: bool = False) -> tuple[float, float, float, float]:
    import numpy as np
    import tensorflow_hub as hub
    import tf_keras

    begun = time.perf_counter()
    if as_bertclf:
        from bertclf.encoders import encoder_layer

        layer = encoder_layer(path)
    else:
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
    if as_bertclf:
        from bertclf.encoders import loaded_encoders

        loaded_encoders.release(model)
    return (loaded, *timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("encoder")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--as-bertclf", action="store_true",
                        help="build the layer as bertclf does, and release each repeat's model")
    args = parser.parse_args()
    for repeat in range(1, args.repeats + 1):
        load, first, second, predict = one_repeat(args.encoder, args.as_bertclf)
        print(f"{args.encoder} #{repeat}: load {load:.2f} s, first step {first:.2f} s, "
              f"second {second:.2f} s, first prediction {predict:.2f} s", flush=True)


if __name__ == "__main__":
    main()
