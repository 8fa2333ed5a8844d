"""Loading a config: YAML file, then `--set` overrides, paths resolved, errors in one line.

No TensorFlow here: `bertclf config check` and every config error answer in well under a second.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Optional

import yaml
from pydantic import ValidationError

from bertclf.config.data_schema import DATA_ROOT_PREFIX
from bertclf.config.schema import Config
from bertclf.errors import ConfigError
from bertclf.files import is_url


# Keys whose values are filesystem paths, resolved relative to where they were written.
_PATH_KEYS = (
    ("experiment", "output_dir"),
    ("data", "path"),
    ("data", "train_path"),
    ("data", "validation_path"),
    ("data", "test_path"),
    ("model", "encoder_handle"),
    ("model", "preprocess_handle"),
    ("pretrain", "output"),
)
# Keys whose values are folders of encoders or registry names: a value that names a path
# (it has a slash, or starts with . or ~) resolves like a path even before the folder exists.
_ENCODER_KEYS = (("model", "encoder"), ("pretrain", "encoder"))


def require_runtime_overrides(overrides: list[str]) -> None:
    """A resumed run (training or pretraining) keeps its config: only `runtime.*` may be overridden.

    Raises:
        ConfigError: An override names another section.
    """
    for item in overrides:
        if not item.split("=", 1)[0].strip().startswith("runtime."):
            raise ConfigError(f"--set {item}: a resumed run keeps its own config; only runtime.* may "
                              f"change. Start a new run to change it")


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Loads, layers and validates an experiment config.

    Args:
        path: The YAML file.
        overrides: `KEY=VALUE` strings from `--set`, applied after the file.

    Returns:
        The validated config, with every path made absolute.

    Raises:
        ConfigError: The file is missing or malformed, or a key or value is wrong.
    """
    path = Path(path)
    return config_from_mapping(_read_yaml(path), str(path), path.resolve().parent, overrides)


def read_config_mapping(path: str | Path) -> dict[str, Any]:
    """A config file's sections as plain data, before validation (relative paths as written).

    Raises:
        ConfigError: The file is missing, not UTF-8 or not YAML.
    """
    return _read_yaml(Path(path))


def config_from_mapping(raw: dict[str, Any], source: str = "config", base: Optional[Path] = None,
                        overrides: "list[str] | dict[str, Any] | None" = None) -> Config:
    """Validates config sections given as data (what a YAML file holds), then overrides.

    Args:
        raw: Sections as nested dicts; relative paths are relative to `base`.
        source: What error messages name (a file, or "config" for Python data).
        base: Folder relative paths start from (default: the working directory).
        overrides: `KEY=VALUE` strings (YAML-typed values) or a dict of dotted keys to values.

    Raises:
        ConfigError: A key or value is wrong; one line per problem.
    """
    import copy

    raw = copy.deepcopy(raw)
    _resolve_paths(raw, base=base or Path.cwd())
    override_raw: dict[str, Any] = {}
    override_keys = set()
    items = ([(key, value, f"overrides[{key!r}]") for key, value in overrides.items()]
             if isinstance(overrides, dict)
             else [(*parse_override(item), f"--set {item}") for item in overrides or []])
    for dotted, value, origin in items:
        _set_dotted(override_raw, dotted, value, origin=origin)
        override_keys.add(dotted)
    _resolve_paths(override_raw, base=Path.cwd())
    _drop_sources_of_replaced_paths(raw, override_raw)
    merged = _deep_merge(raw, override_raw)
    try:
        config = Config.model_validate(merged)
    except ValidationError as error:
        raise ConfigError(_format_validation_error(error, source, override_keys)) from None
    output_dir = Path(config.experiment.output_dir).expanduser()
    if not output_dir.is_absolute():
        config.experiment.output_dir = str((Path.cwd() / output_dir).resolve())
    return config


def _drop_sources_of_replaced_paths(raw: dict[str, Any], override_raw: dict[str, Any]) -> None:
    """A source follows its path: an override that removes or replaces a data path
    (`--set data.test_path=null`) drops the `data.sources` entry of the file no longer read, which
    would otherwise be refused as a misnamed source."""
    data, changed = raw.get("data"), override_raw.get("data")
    if not isinstance(data, dict) or not isinstance(changed, dict) or not isinstance(data.get("sources"), dict):
        return
    for key in ("path", "train_path", "validation_path", "test_path"):
        before = data.get(key)
        if key in changed and isinstance(before, str) and before.startswith(DATA_ROOT_PREFIX) and changed[key] != before:
            data["sources"].pop(before[len(DATA_ROOT_PREFIX):].lstrip("/"), None)


def parse_override(item: str) -> tuple[str, Any]:
    """Splits `a.b=value` into the dotted key and a YAML-typed value.

    Raises:
        ConfigError: The item has no `=` or an empty key.
    """
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {item}: expected KEY=VALUE, for example --set train.epochs=2")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        value = text
    return key, value


def flatten_dotted(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config mapping as {dotted key: value} (empty sections kept as values)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def dump_config(config: Config) -> str:
    """Returns the resolved config as YAML, in schema order, for the run folder."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text; save the config as UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError(f"{where}: YAML syntax error: {error.problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {error}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (experiment, data, model, "
                          f"train, runtime) at the top level, got {type(raw).__name__}")
    return raw


def _resolve_paths(raw: dict[str, Any], base: Path) -> None:
    for section, key in _PATH_KEYS:
        block = raw.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            value = block[key]
            if not is_url(value):
                block[key] = _absolute(value, base)
    for section, key in _ENCODER_KEYS:
        block = raw.get(section)
        if isinstance(block, dict) and isinstance(block.get(key), str):
            value = block[key]
            candidate = _absolute(value, base)
            if Path(candidate).is_dir() or looks_like_path(value):
                block[key] = candidate
    pretrain = raw.get("pretrain")
    if isinstance(pretrain, dict) and isinstance(pretrain.get("unlabelled"), list):
        pretrain["unlabelled"] = [_absolute(v, base) if isinstance(v, str) else v
                                  for v in pretrain["unlabelled"]]


def looks_like_path(value: str) -> bool:
    """True for `model.encoder` values that can only be folders (registry names have no slash)."""
    return "/" in value or "\\" in value or value.startswith((".", "~"))


def _absolute(value: str, base: Path) -> str:
    if value.startswith(DATA_ROOT_PREFIX):  # under the data root: kept as written, resolved when read
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _set_dotted(target: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{origin}: {part} is not a section")
    node[parts[-1]] = value


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _format_validation_error(error: ValidationError, source: str, override_keys: set[str]) -> str:
    lines = []
    for item in error.errors():
        dotted = ".".join(str(part) for part in item["loc"])
        origin = "--set" if any(dotted == k or dotted.startswith(k + ".") for k in override_keys) else source
        if item["type"] == "extra_forbidden":
            lines.append(f"{origin}: {dotted}: unknown key; {suggest_key(item['loc'])}")
        elif item["type"] == "missing" and dotted in ("model", "model.encoder"):
            lines.append(f"{origin}: model.encoder: required key is missing; {_missing_encoder()}")
        elif item["type"] == "missing":
            lines.append(f"{origin}: {dotted}: required key is missing")
        else:
            message = item["msg"].removeprefix("Value error, ")
            where = f"{dotted}: " if dotted else ""
            shown = "" if item["type"] == "value_error" else f" (got {item['input']!r})"
            lines.append(f"{origin}: {where}{message}{shown}")
    return "\n".join(lines)


def _missing_encoder() -> str:
    """What model.encoder can be, with the registry names that work on this machine now."""
    from bertclf.encoders.registry import is_available_offline, load_registry

    offline = [spec.name for spec in load_registry().values() if is_available_offline(spec)]
    return (f"name a registry encoder (usable offline here: {', '.join(offline)}; all of them: "
            f"`bertclf models list`) or an encoder folder")


def suggest_key(loc: tuple[Any, ...]) -> str:
    """Names the closest valid key, in the same section or in another one."""
    key = str(loc[-1])
    parent = ".".join(str(part) for part in loc[:-1])
    siblings = _field_names(loc[:-1])
    close = difflib.get_close_matches(key, siblings, n=1, cutoff=0.6)
    if close:
        return f"did you mean {parent + '.' if parent else ''}{close[0]}?"
    elsewhere = [f"{section}.{key}" for section in _field_names(())
                 if key in _field_names((section,))]
    if elsewhere:
        return f"did you mean {elsewhere[0]}?"
    return f"valid keys{' in ' + parent if parent else ''}: {', '.join(siblings)}"


def _field_names(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for part in loc:
        model = _section_type(model)
        if typing.get_origin(model) is dict:  # a map of sections (data.sources): `part` is its key
            model = typing.get_args(model)[1]
            continue
        field = getattr(model, "model_fields", {}).get(str(part))
        if field is None:
            return []
        model = field.annotation
    return list(getattr(_section_type(model), "model_fields", {}))


def _section_type(annotation: Any) -> Any:
    """`Optional[X]` (and unions of X with None) as X: the type a key's value is validated as."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        kinds = [kind for kind in typing.get_args(annotation) if kind is not type(None)]
        if len(kinds) == 1:
            return kinds[0]
    return annotation
