"""The encoder registry: named encoders, each with its matching preprocessor.

One entry holds everything about an encoder (handles, shape, casing, languages),
so an encoder can never be paired with the wrong vocabulary. `model.encoder` is
a registry name, `tiny`, or a folder holding `encoder/` and `preprocessor/`
(what `bertclf models make-tiny` writes); explicit `model.encoder_handle` and
`model.preprocess_handle` override all three. No TensorFlow here.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import hashlib
import importlib.util
import json
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Optional

import yaml

from bertclf.config import Config, ModelConfig
from bertclf.errors import ConfigError
from bertclf.files import is_url

# Inside a folder written by `bertclf models make-tiny` (or any local encoder folder).
ENCODER_SUBDIR = "encoder"
PREPROCESSOR_SUBDIR = "preprocessor"
MANIFEST_FILE = "bertclf_encoder.json"


@dataclasses.dataclass(frozen=True)
class EncoderSpec:
    """An encoder and its preprocessor, with the facts a user chooses by.

    Attributes:
        name: Registry name, or the folder/handle it was given as.
        source: `hub` (TF Hub handles: URLs or SavedModel folders), `tiny`
            (built locally from the run's training texts) or `package` (a Hugging
            Face checkpoint inside an installed pip package, converted on first use).
        encoder_handle: TF Hub handle of the encoder SavedModel.
        preprocess_handle: TF Hub handle of the matching preprocessor SavedModel.
        package: For `package` sources, `module/path`: a Hugging Face checkpoint
            folder or an E5S1 `.bin` file inside the installed module.
        weights: How the pretrained weights are stored where they come from
            (`float32`, `4-bit (Q4_0)`, `random`).
        text_prefix: What the preprocessor prepends to every text (e5: `"query: "`).
    """

    name: str
    source: str
    encoder_handle: Optional[str] = None
    preprocess_handle: Optional[str] = None
    package: Optional[str] = None
    family: str = ""
    layers: Optional[int] = None
    hidden: Optional[int] = None
    heads: Optional[int] = None
    cased: Optional[bool] = None
    languages: str = ""
    weights: str = ""
    text_prefix: str = ""
    note: str = ""


@functools.lru_cache(maxsize=1)
def load_registry() -> dict[str, EncoderSpec]:
    """Returns the packaged registry, keyed by name, in file order."""
    text = resources.files("bertclf.encoders").joinpath("registry.yaml").read_text(encoding="utf-8")
    entries = yaml.safe_load(text)["encoders"]
    return {entry["name"]: EncoderSpec(**{"source": "hub", **entry}) for entry in entries}


def get_spec(name: str) -> EncoderSpec:
    """Looks up a registry entry by name.

    Raises:
        ConfigError: No such entry; the message suggests the closest names.
    """
    registry = load_registry()
    if name in registry:
        return registry[name]
    close = difflib.get_close_matches(name, list(registry), n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ConfigError(f"model.encoder: {name!r} is not a registry name or an existing folder; "
                      f"{hint}see `bertclf models list`")


def resolve_spec(model: ModelConfig) -> EncoderSpec:
    """Turns the `model` section into the encoder spec it names.

    Raises:
        ConfigError: `model.encoder` is neither a registry name nor a folder.
    """
    if model.encoder_handle is not None:
        return EncoderSpec(name=model.encoder, source="hub", encoder_handle=model.encoder_handle,
                           preprocess_handle=model.preprocess_handle)
    folder = Path(model.encoder)
    if folder.is_absolute() and folder.is_dir():
        return spec_from_folder(folder)
    if folder.is_absolute():
        raise ConfigError(f"model.encoder: {folder}: no such encoder folder; if `bertclf pretrain` writes it "
                          f"(pretrain.output), run that first, else fix the path")
    return get_spec(model.encoder)


def awaiting_pretraining(config: Config) -> bool:
    """True when `model.encoder` is the folder `bertclf pretrain` writes and it is not written yet."""
    return config.model.encoder == config.pretrain.output and not Path(config.model.encoder).exists()


def model_before_pretraining(config: Config) -> ModelConfig:
    """The model section with the encoder that `bertclf pretrain` adapts (its vocabulary is the same).

    For measuring data and checking configs before the adapted encoder exists.
    """
    return config.model.model_copy(update={"encoder": config.pretrain.encoder or "tiny"})


def spec_from_folder(folder: Path) -> EncoderSpec:
    """Reads an encoder folder (`encoder/`, `preprocessor/`, optional manifest).

    Raises:
        ConfigError: The folder lacks one of the two SavedModels.
    """
    for sub in (ENCODER_SUBDIR, PREPROCESSOR_SUBDIR):
        if not (folder / sub / "saved_model.pb").is_file():
            raise ConfigError(
                f"model.encoder: {folder} has no {sub}/saved_model.pb; an encoder folder holds "
                f"{ENCODER_SUBDIR}/ and {PREPROCESSOR_SUBDIR}/ (see `bertclf models make-tiny`)")
    facts = {}
    manifest = folder / MANIFEST_FILE
    if manifest.is_file():
        known = {field.name for field in dataclasses.fields(EncoderSpec)}
        facts = {k: v for k, v in json.loads(manifest.read_text(encoding="utf-8")).items()
                 if k in known and k not in ("name", "source", "encoder_handle", "preprocess_handle")}
    return EncoderSpec(name=str(folder), source="hub",
                       encoder_handle=str(folder / ENCODER_SUBDIR),
                       preprocess_handle=str(folder / PREPROCESSOR_SUBDIR), **facts)


def is_available_offline(spec: EncoderSpec) -> bool:
    """True when the spec can be loaded with no network: built locally, a local
    folder, or already in the TF Hub download cache."""
    if spec.source == "tiny":
        return True
    if spec.source == "package":
        return packaged_checkpoint(spec) is not None
    return all(_handle_is_local(h) for h in (spec.encoder_handle, spec.preprocess_handle))


def packaged_checkpoint(spec: EncoderSpec) -> Optional[Path]:
    """The checkpoint (folder or `.bin` file) inside the installed package, or None if it is not installed.

    Found without importing the package, so listing models stays instant.
    """
    module, _, subfolder = (spec.package or "").partition("/")
    try:
        found = importlib.util.find_spec(module) if module else None
    except (ImportError, ValueError):
        return None
    if found is None or not found.submodule_search_locations:
        return None
    path = Path(list(found.submodule_search_locations)[0]) / subfolder
    if path.suffix == ".bin":
        return path if path.is_file() else None
    return path if (path / "model.safetensors").is_file() else None


def _handle_is_local(handle: Optional[str]) -> bool:
    if not handle:
        return False
    if not is_url(handle):
        return (Path(handle) / "saved_model.pb").is_file()
    return (hub_cache_dir() / hashlib.sha1(handle.encode("utf8")).hexdigest() / "saved_model.pb").is_file()


def hub_cache_dir() -> Path:
    """Where tensorflow_hub keeps downloaded models (its own rule, without importing it)."""
    return Path(os.environ.get("TFHUB_CACHE_DIR") or Path(tempfile.gettempdir()) / "tfhub_modules")


def folder_manifest(handle: str) -> dict:
    """The manifest beside a SavedModel that a bertclf encoder folder holds (its `encoder/` or
    `preprocessor/`), or {} for any other handle (a URL, a folder bertclf did not write)."""
    if is_url(handle):
        return {}
    try:
        manifest = json.loads((Path(handle).parent / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}
