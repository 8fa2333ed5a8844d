"""Times Keras's dropout against bertclf's FastDropout, forward + backward, on BERT-shaped tensors.

Usage: python scripts/bench_dropout.py [--repeats N]
Shapes are MiniLM's at batch 32 and 128 tokens: attention probabilities
[32, 12, 128, 128] and hidden states [32, 128, 384], rate 0.1, in bfloat16 and
float32. Prints the median milliseconds per call of each.
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    import tensorflow as tf
    import tf_keras

    from bertclf.encoders.dropout import FastDropout

    tf.random.set_seed(0)
    print("| shape | dtype | Keras Dropout ms | FastDropout ms | speed-up |")
    print("|---|---|---|---|---|")
    for shape in ([32, 12, 128, 128], [32, 128, 384]):
        for dtype in (tf.bfloat16, tf.float32):
            inputs = tf.cast(tf.random.normal(shape), dtype)
            times = [_median_ms(layer, inputs, args.repeats)
                     for layer in (tf_keras.layers.Dropout(0.1), FastDropout(0.1))]
            print(f"| {shape} | {dtype.name} | {times[0]:.1f} | {times[1]:.1f} | {times[0] / times[1]:.2f}x |")


def _median_ms(layer, inputs, repeats: int) -> float:
    import tensorflow as tf

    @tf.function
    def forward_backward(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.cast(layer(x, training=True), tf.float32))
        return tape.gradient(loss, x)

    forward_backward(inputs).numpy()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        forward_backward(inputs).numpy()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


if __name__ == "__main__":
    main()
