"""A TF Hub BERT encoder rebuilt as tf-models-official's `BertEncoder`, for other precisions.

A SavedModel's dtypes are fixed when it is exported, so `hub.KerasLayer`
computes in float32 whatever the Keras mixed-precision policy says. To train in
bfloat16 (or float16) the encoder is built natively under the policy and given
the SavedModel's weights. The architecture is read off the weights' shapes
(layers, hidden size, heads, intermediate size, positions); the activation,
which shapes cannot tell, is the one a bertclf encoder folder's manifest names,
checked by a float32 rebuild against the SavedModel's outputs; otherwise (or if
that rebuild does not match) the candidate whose rebuild comes closest, and a
rebuild that reproduces none is refused.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np

from bertclf.encoders.registry import folder_manifest
from bertclf.errors import ModelError
from bertclf.files import is_url

# Names as tf-models-official's `get_activation` resolves them, the way the SavedModels were
# built: exact (erf) GELU (Hugging Face's "gelu"), the tanh approximation (tf-models-official's
# and TF Hub BERTs' "gelu"; tf_keras's own "gelu" would be the exact one), ReLU.
_ACTIVATIONS = ("bertclf_exact_gelu", "gelu", "relu")
# float32 rebuild vs SavedModel, on a random batch (both float32: rounding differences only).
_MATCH_TOLERANCE = 1e-4
# BERT's own rate, for SavedModels that do not say theirs (the graph does not record it);
# bertclf's encoder folders record it in their manifest.
_DEFAULT_DROPOUT = 0.1
# The cache of rebuild facts (see read_native_weights); bump when what is stored changes.
_NATIVE_CACHE_VERSION = 1
_CACHED_WEIGHTS = "weights.npz"
_CACHED_SHAPE = "native.json"


@dataclasses.dataclass
class NativeEncoderWeights:
    """Everything needed to rebuild an encoder: its shape-derived config and weights by name."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_positions: int
    type_vocab_size: int
    activation: str
    weights: dict[str, np.ndarray]
    dropout: float = _DEFAULT_DROPOUT
    attention_dropout: float = _DEFAULT_DROPOUT


def read_native_weights(handle: str) -> NativeEncoderWeights:
    """Loads a BERT encoder SavedModel's weights and works out how to rebuild it.

    Working it out loads the SavedModel and builds a float32 rebuild per
    candidate activation (9 s for MiniLM on 2 cores; one rebuild when the
    folder's manifest names the activation), so for a local folder the
    result is cached, keyed by the folder and its files' sizes and times: a
    re-exported or replaced SavedModel is read again. Dropout rates are read
    from the folder's manifest each time.

    Raises:
        ModelError: The SavedModel is not a BertEncoder this module can rebuild exactly.
    """
    if is_url(handle):
        return _read_native_weights(handle)
    from bertclf.cache import build_once, cache_dir

    target = cache_dir("native") / _cache_key(Path(handle))

    def build(staging: Path) -> None:
        found = _read_native_weights(handle)
        staging.mkdir(parents=True)
        np.savez(staging / _CACHED_WEIGHTS, **found.weights)
        shape = {field.name: getattr(found, field.name) for field in dataclasses.fields(found)
                 if field.name not in ("weights", "dropout", "attention_dropout")}
        (staging / _CACHED_SHAPE).write_text(json.dumps(shape), encoding="utf-8")  # last: the done marker

    build_once(target, build, _CACHED_SHAPE)
    shape = json.loads((target / _CACHED_SHAPE).read_text(encoding="utf-8"))
    with np.load(target / _CACHED_WEIGHTS) as stored:
        weights = {name: stored[name] for name in stored.files}
    return NativeEncoderWeights(**shape, weights=weights, **_recorded_dropout(handle))


def _cache_key(folder: Path) -> str:
    import hashlib

    # The candidates and tolerance decide the activation, so they are part of what is cached.
    parts = [f"v{_NATIVE_CACHE_VERSION}", str(folder.resolve()), ",".join(_ACTIVATIONS), str(_MATCH_TOLERANCE)]
    for path in sorted([folder / "saved_model.pb", *(folder / "variables").glob("*")]):
        if path.is_file():
            stat = path.stat()
            parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _read_native_weights(handle: str) -> NativeEncoderWeights:
    import tensorflow as tf

    from bertclf.encoders import load_saved_model
    from bertclf.encoders.convert import register_exact_gelu
    from bertclf.runtime.precision import keras_policy

    register_exact_gelu()
    loaded = load_saved_model(handle)
    # A SavedModel that is no encoder at all (say, a preprocessor) may have no variables.
    weights = {_plain_name(v.name): v.numpy() for v in getattr(loaded, "variables", ()) if v.dtype != tf.bool}
    try:
        vocab_size, hidden = weights["word_embeddings/embeddings"].shape
        layers = len([n for n in weights if re.fullmatch(r"transformer/layer_\d+/intermediate/kernel", n)])
        found = NativeEncoderWeights(
            vocab_size=vocab_size, hidden_size=hidden, num_layers=layers,
            num_heads=weights["transformer/layer_0/self_attention/query/kernel"].shape[1],
            intermediate_size=weights["transformer/layer_0/intermediate/kernel"].shape[1],
            max_positions=weights["position_embedding/embeddings"].shape[0],
            type_vocab_size=weights["type_embeddings/embeddings"].shape[0], activation="", weights=weights,
            **_recorded_dropout(handle))
    except KeyError as missing:
        raise ModelError(f"encoder {handle}: not a tf-models-official BertEncoder (no {missing} weight); "
                         f"runtime.precision other than float32 needs one") from None
    inputs = probe_inputs(found)
    expected = loaded(inputs, training=False)["sequence_output"].numpy()
    # Candidates are compared in float32, whatever policy the run will train in.
    # The closest candidate, not the first within tolerance: on a small random model the exact
    # and tanh GELUs can both land within it, and only one is what the SavedModel computes.
    gaps = {}
    with keras_policy("float32"):
        # What the folder was built with comes first and is the answer when its rebuild matches:
        # the other candidates need not be built (a rebuild costs seconds; e5's, six).
        recorded = folder_manifest(handle).get("activation")
        for activation in sorted(_ACTIVATIONS, key=lambda name: name != recorded):
            candidate = dataclasses.replace(found, activation=activation)
            got = build_native_encoder(candidate)(inputs, training=False)["sequence_output"].numpy()
            gaps[activation] = float(np.abs(got - expected).max())
            if activation == recorded and gaps[activation] <= _MATCH_TOLERANCE:
                return dataclasses.replace(found, activation=recorded)
    best = min(gaps, key=gaps.get)
    if gaps[best] <= _MATCH_TOLERANCE:
        return dataclasses.replace(found, activation=best)
    raise ModelError(f"encoder {handle}: a native rebuild does not reproduce it with any of "
                     f"{', '.join(_ACTIVATIONS)}; use runtime.precision: float32")


def build_native_encoder(native: NativeEncoderWeights):
    """A `BertEncoder` with `native`'s weights, computing in the current Keras dtype policy.

    Raises:
        ModelError: A weight is missing or left over (never silently dropped).
    """
    from official.modeling import tf_utils
    from official.nlp.modeling import networks

    from bertclf.encoders.convert import register_exact_gelu

    register_exact_gelu()  # the activation may be named without the SavedModel ever being read
    encoder = networks.BertEncoder(
        vocab_size=native.vocab_size, hidden_size=native.hidden_size, num_layers=native.num_layers,
        num_attention_heads=native.num_heads, intermediate_size=native.intermediate_size,
        activation=tf_utils.get_activation(native.activation), dropout_rate=native.dropout,
        attention_dropout_rate=native.attention_dropout, max_sequence_length=native.max_positions,
        type_vocab_size=native.type_vocab_size, dict_outputs=True)
    targets = {_plain_name(weight.name): weight for weight in encoder.weights}
    missing = sorted(set(targets) - set(native.weights))
    unused = sorted(set(native.weights) - set(targets))
    if missing or unused:
        raise ModelError(f"native encoder rebuild: weights not set {missing[:3]}, not used {unused[:3]}")
    for name, weight in targets.items():
        weight.assign(native.weights[name])
    from bertclf.encoders.dropout import use_fast_dropout

    # Embedding dropout, then per layer: attention probabilities, attention output, inner, output.
    if use_fast_dropout(encoder) < 1 + 3 * native.num_layers:
        raise RuntimeError("BertEncoder's dropout layers were not found; tf-models-official changed")
    return encoder


def _recorded_dropout(handle: str) -> dict[str, float]:
    """The dropout rates a bertclf encoder folder's manifest records for its encoder (else none)."""
    manifest = folder_manifest(handle)
    return {key: float(manifest[key]) for key in ("dropout", "attention_dropout") if key in manifest}


def _plain_name(name: str) -> str:
    # "transformer/layer_0/.../kernel:0" -> without the ":0"; a second model built in the
    # same process may get uniquified top-level scopes, which carry no meaning here.
    return re.sub(r":\d+$", "", name)


def probe_inputs(native: NativeEncoderWeights) -> dict:
    """Random ids over the whole vocabulary, both token types, one padded row."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    ids = rng.integers(1, native.vocab_size, size=(2, 64)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 40:] = 0
    types = np.zeros_like(ids)
    types[:, 24:] = 1
    return {"input_word_ids": tf.constant(ids * mask), "input_mask": tf.constant(mask),
            "input_type_ids": tf.constant(types * mask)}
