"""Converting a Hugging Face BERT checkpoint into TF Hub SavedModels.

Reads `config.json`, `model.safetensors` (NumPy loader, no PyTorch), `vocab.txt`
and `tokenizer_config.json`; builds tf-models-official's `BertEncoder` with the
checkpoint's own activation; copies every weight; and exports the encoder and
its matching preprocessor as TF Hub SavedModels (`encoders.export`). The mapping is strict: a
source tensor left unused or an encoder variable left unset is an error naming
them, so a conversion can never silently drop weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bertclf.errors import ModelError
from bertclf.encoders.export import VOCAB_FILE, export_encoder_folder

# Hugging Face's "gelu" is the exact erf form; tf-models-official's "gelu" string is the
# tanh approximation (about 5e-3 apart in sequence_output on MiniLM). This name is
# registered with Keras below so export_tfhub_lib can build the exact one.
EXACT_GELU = "bertclf_exact_gelu"
_ACTIVATIONS = {"gelu": EXACT_GELU, "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu"}
# tf-models-official's BertEncoder fixes every layer-norm epsilon at this value.
ENCODER_LAYER_NORM_EPS = 1e-12
# Registered buffers stored beside the weights; they are not parameters.
_BUFFERS = ("embeddings.position_ids",)
_CHECKPOINT_FILES = ("config.json", "model.safetensors", "vocab.txt")
# Heads of Hugging Face's BERT task classes: not part of the encoder, dropped with a note.
_TASK_HEADS = ("cls.", "classifier.")


def read_checkpoint(source: Path) -> tuple[dict, dict[str, np.ndarray], bool]:
    """Reads a Hugging Face BERT folder.

    Task heads (`cls.*` of BertForPreTraining/MaskedLM, `classifier.*` of
    BertForSequenceClassification) are dropped with a note on stderr; everything else
    must have a place in the encoder (`map_weights` stays strict).

    Returns:
        (config.json as a dict, encoder weights by name without any `bert.` prefix, do_lower_case).

    Raises:
        ModelError: A file is missing, the model is not a BERT, or nothing says whether
            its vocabulary is lower-cased.
    """
    import sys

    from safetensors.numpy import load_file

    for name in _CHECKPOINT_FILES:
        if not (source / name).is_file():
            raise ModelError(f"{source}: no {name}; a Hugging Face BERT checkpoint folder has "
                             f"{', '.join(_CHECKPOINT_FILES)} and tokenizer_config.json")
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if config.get("model_type") != "bert":
        raise ModelError(f"{source}/config.json: model_type is {config.get('model_type')!r}; "
                         f"only BERT checkpoints convert")
    weights = {_strip_prefix(name): value for name, value in load_file(str(source / "model.safetensors")).items()}
    heads = sorted(name for name in weights if name.startswith(_TASK_HEADS))
    if heads:
        print(f"note: {source}: dropped {len(heads)} task-head weight(s) ({', '.join(heads[:3])}"
              f"{' ...' if len(heads) > 3 else ''}); bertclf keeps the encoder and adds its own head",
              file=sys.stderr)
        weights = {name: value for name, value in weights.items() if not name.startswith(_TASK_HEADS)}
    return config, weights, _lower_case(source)


def _lower_case(source: Path) -> bool:
    """do_lower_case from tokenizer_config.json, else tokenizer.json's BertNormalizer, else refuse."""
    config_file, fast_file = source / "tokenizer_config.json", source / "tokenizer.json"
    if config_file.is_file():
        value = json.loads(config_file.read_text(encoding="utf-8")).get("do_lower_case")
        if isinstance(value, bool):
            return value
    if fast_file.is_file():
        normalizer = json.loads(fast_file.read_text(encoding="utf-8")).get("normalizer") or {}
        if isinstance(normalizer.get("lowercase"), bool):
            return normalizer["lowercase"]
    raise ModelError(f"{source}: neither tokenizer_config.json nor tokenizer.json says whether the vocabulary "
                     f"is lower-cased; add tokenizer_config.json with \"do_lower_case\": true or false")


def _strip_prefix(name: str) -> str:
    return name[len("bert."):] if name.startswith("bert.") else name


def map_weights(weights: dict[str, np.ndarray], layers: int, hidden: int, heads: int) -> dict[str, np.ndarray]:
    """Renames and reshapes Hugging Face BERT weights to `BertEncoder` variable names.

    PyTorch `Linear` weights are stored [out, in] and are transposed; attention
    projections are split per head ([H, A, H/A], output [A, H/A, H]).

    Raises:
        ModelError: Some source weights have no destination.
    """
    head_size = hidden // heads
    remaining = {k: v for k, v in weights.items() if k not in _BUFFERS}
    mapped: dict[str, np.ndarray] = {}

    def take(name: str) -> np.ndarray:
        for alias in (name, name.replace(".weight", ".gamma").replace(".bias", ".beta")):
            if alias in remaining:
                return remaining.pop(alias)
        raise ModelError(f"checkpoint has no weight {name}")

    def layer_norm(source: str, target: str) -> None:
        mapped[f"{target}/gamma"] = take(f"{source}.weight")
        mapped[f"{target}/beta"] = take(f"{source}.bias")

    mapped["word_embeddings/embeddings"] = take("embeddings.word_embeddings.weight")
    mapped["position_embedding/embeddings"] = take("embeddings.position_embeddings.weight")
    mapped["type_embeddings/embeddings"] = take("embeddings.token_type_embeddings.weight")
    layer_norm("embeddings.LayerNorm", "embeddings/layer_norm")
    for i in range(layers):
        source, target = f"encoder.layer.{i}", f"transformer/layer_{i}"
        for part in ("query", "key", "value"):
            kernel = take(f"{source}.attention.self.{part}.weight").T
            mapped[f"{target}/self_attention/{part}/kernel"] = kernel.reshape(hidden, heads, head_size)
            mapped[f"{target}/self_attention/{part}/bias"] = take(
                f"{source}.attention.self.{part}.bias").reshape(heads, head_size)
        output = take(f"{source}.attention.output.dense.weight").T
        mapped[f"{target}/self_attention/attention_output/kernel"] = output.reshape(heads, head_size, hidden)
        mapped[f"{target}/self_attention/attention_output/bias"] = take(f"{source}.attention.output.dense.bias")
        layer_norm(f"{source}.attention.output.LayerNorm", f"{target}/self_attention_layer_norm")
        mapped[f"{target}/intermediate/kernel"] = take(f"{source}.intermediate.dense.weight").T
        mapped[f"{target}/intermediate/bias"] = take(f"{source}.intermediate.dense.bias")
        mapped[f"{target}/output/kernel"] = take(f"{source}.output.dense.weight").T
        mapped[f"{target}/output/bias"] = take(f"{source}.output.dense.bias")
        layer_norm(f"{source}.output.LayerNorm", f"{target}/output_layer_norm")
    mapped["pooler_transform/kernel"] = take("pooler.dense.weight").T
    mapped["pooler_transform/bias"] = take("pooler.dense.bias")
    if remaining:
        names = sorted(remaining)
        raise ModelError(f"{len(names)} checkpoint weight(s) have no place in a BERT encoder: "
                         f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    return mapped


def convert_checkpoint(source: Path, out_dir: Path, name: str = "") -> dict:
    """Writes `encoder/`, `preprocessor/`, `vocab.txt` and a manifest for a BERT checkpoint.

    The encoder is built and exported in float32 whatever Keras policy the
    calling run has set (see `encoders.export`).

    Returns:
        The manifest (registry facts about the converted encoder).

    Raises:
        ModelError: The checkpoint is not a BERT this encoder can represent exactly.
    """
    from bertclf.runtime.precision import keras_policy

    with keras_policy("float32"):
        return _convert(source, out_dir, name)


def _convert(source: Path, out_dir: Path, name: str) -> dict:
    from official.legacy.bert import configs
    from official.nlp.tools import export_tfhub_lib

    register_exact_gelu()
    config, weights, lower_case = read_checkpoint(source)
    activation = _ACTIVATIONS.get(config.get("hidden_act", "gelu"))
    if activation is None:
        raise ModelError(f"{source}/config.json: hidden_act {config.get('hidden_act')!r} is not supported "
                         f"(supported: {', '.join(_ACTIVATIONS)})")
    eps = float(config.get("layer_norm_eps", 1e-12))
    if not np.isclose(eps, ENCODER_LAYER_NORM_EPS, rtol=1e-3, atol=0):
        raise ModelError(f"{source}/config.json: layer_norm_eps {eps} cannot be represented "
                         f"(the TF encoder uses {ENCODER_LAYER_NORM_EPS})")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ModelError(f"{source}/config.json: only absolute position embeddings are supported")
    layers, hidden, heads = config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]
    bert_config = configs.BertConfig(
        vocab_size=config["vocab_size"], hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=heads, intermediate_size=config["intermediate_size"], hidden_act=activation,
        hidden_dropout_prob=config.get("hidden_dropout_prob", 0.1),
        attention_probs_dropout_prob=config.get("attention_probs_dropout_prob", 0.1),
        max_position_embeddings=config.get("max_position_embeddings", 512),
        type_vocab_size=config.get("type_vocab_size", 2),
        initializer_range=config.get("initializer_range", 0.02))
    encoder = export_tfhub_lib.get_bert_encoder(bert_config)
    assign_encoder_weights(encoder, map_weights(weights, layers, hidden, heads), source)

    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_file = out_dir / VOCAB_FILE
    vocab_file.write_bytes((source / "vocab.txt").read_bytes())
    manifest = {"name": name or source.name, "family": "bert", "layers": layers, "hidden": hidden,
                "heads": heads, "cased": not lower_case, "vocab_size": config["vocab_size"],
                "note": f"converted from {source} (hidden_act {config.get('hidden_act', 'gelu')})"}
    export_encoder_folder(out_dir, encoder, bert_config, vocab_file, lower_case, manifest)
    return manifest


def assign_encoder_weights(encoder, mapped: dict[str, np.ndarray], source: Path) -> None:
    """Sets every variable of a built `BertEncoder` from `map_weights`' output.

    Raises:
        ModelError: A variable is left unset, a weight is left unused, or a shape differs.
    """
    mapped = dict(mapped)
    unset = []
    for variable in encoder.weights:
        key = variable.name.split(":")[0]
        value = mapped.pop(key, None)
        if value is None:
            unset.append(key)
        elif tuple(variable.shape) != value.shape:
            raise ModelError(f"{source}: weight for {key} has shape {value.shape}, the encoder expects "
                             f"{tuple(variable.shape)}")
        else:
            variable.assign(value)
    if unset or mapped:
        raise ModelError(f"{source}: conversion incomplete; encoder variables not set: {unset[:5]}, "
                         f"mapped weights with no variable: {sorted(mapped)[:5]}")


def register_exact_gelu() -> None:
    """Makes `bertclf_exact_gelu` resolvable by Keras' activation lookup (idempotent)."""
    import tensorflow as tf
    import tf_keras

    def exact_gelu(x):
        return tf.nn.gelu(x, approximate=False)

    tf_keras.utils.get_custom_objects()[EXACT_GELU] = exact_gelu

