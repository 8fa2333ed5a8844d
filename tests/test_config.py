"""The config tree: defaults, YAML, --set, paths, and every error message."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bertclf.config import Config, dump_config, load_config, parse_override
from bertclf.errors import ConfigError
from conftest import write_config

MINIMAL = "data:\n  path: data\nmodel:\n  encoder: tiny\n"


def test_defaults_then_yaml_then_set(tmp_path):
    path = write_config(tmp_path / "c.yaml", MINIMAL + "train:\n  epochs: 5\n  batch_size: 8\n")
    config = load_config(path, ["train.epochs=2", "model.dropout=0.3"])
    assert config.train.epochs == 2            # --set beats the file
    assert config.train.batch_size == 8        # the file beats the default
    assert config.train.learning_rate == 5e-5  # the default stands
    assert config.model.dropout == 0.3


def test_paths_in_file_resolve_against_the_file(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    path = write_config(tmp_path / "configs" / "c.yaml", MINIMAL + "experiment:\n  output_dir: ../runs\n")
    monkeypatch.chdir(tmp_path / "configs")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(path)
    assert config.data.path == str(tmp_path / "configs" / "data")
    assert config.experiment.output_dir == str(tmp_path / "runs")


def test_set_paths_resolve_against_the_current_directory(tmp_path, monkeypatch):
    path = write_config(tmp_path / "c.yaml", MINIMAL)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    config = load_config(path, ["data.path=mydata"])
    assert config.data.path == str(tmp_path / "sub" / "mydata")


def test_encoder_folder_resolves_but_registry_name_does_not(tmp_path):
    (tmp_path / "my_encoder").mkdir()
    as_folder = load_config(write_config(tmp_path / "a.yaml", MINIMAL + "model:\n  encoder: my_encoder\n"))
    assert as_folder.model.encoder == str(tmp_path / "my_encoder")
    as_name = load_config(write_config(tmp_path / "b.yaml", MINIMAL + "model:\n  encoder: electra_small\n"))
    assert as_name.model.encoder == "electra_small"


def test_an_unknown_key_inside_a_map_of_sections_gets_a_suggestion(tmp_path):
    # data.sources maps root paths to sections: the suggestion looks inside the section's type.
    path = write_config(tmp_path / "s.yaml", "data:\n  format: tsv\n  train_path: ${BERTCLF_DATA}/a.tsv\n"
                                             "  sources:\n    a.tsv: {url: 'https://x/a.zip', membr: A/a.tsv}\n"
                                             "model:\n  encoder: tiny\n")
    with pytest.raises(ConfigError, match=r"data.sources.a.tsv.membr: unknown key; did you mean "
                                          r"data.sources.a.tsv.member\?$"):
        load_config(path)


@pytest.mark.parametrize("yaml_text, expected", [
    ("train:\n  lerning_rate: 0.1\n", "train.lerning_rate: unknown key; did you mean train.learning_rate?"),
    ("model:\n  learning_rate: 0.1\n", "model.learning_rate: unknown key; did you mean train.learning_rate?"),
    ("trian:\n  epochs: 1\n", "trian: unknown key; did you mean train?"),
    ("train:\n  epochs: many\n", "train.epochs: Input should be a valid integer"),
    ("train:\n  epochs: -1\n", "train.epochs: Input should be greater than or equal to 1 (got -1)"),
    ("train:\n  batch_size: 0\n", "train.batch_size: Input should be greater than or equal to 1"),
    ("train:\n  learning_rate: 3\n", "train.learning_rate: Input should be less than or equal to 1"),
    ("model:\n  pooling: max\n", "model.pooling: Input should be 'pooled', 'cls' or 'mean'"),
    ("model:\n  encoder: tiny\n  tiny:\n    hidden: 100\n    heads: 3\n", "must be a multiple of model.tiny.heads"),
    ("model:\n  encoder: tiny\n  encoder_handle: /x\n", "model.encoder_handle and model.preprocess_handle go together"),
    ("train:\n  threshold: 1.5\n", "train.threshold: must be 'auto', a probability between 0 and 1"),
    ("train:\n  threshold: best\n", "train.threshold: must be 'auto', a probability between 0 and 1"),
    ("train:\n  threshold: {precision: 0.9, recall: 0.5}\n", "or {precision: P} / {recall: R}"),
    ("data:\n  path: d\n  class_sample: {pos: 0}\n", "data.class_sample.pos must be a share in (0, 1], got 0"),
])
def test_bad_values_name_the_file_and_key(tmp_path, yaml_text, expected):
    path = write_config(tmp_path / "bad.yaml", MINIMAL + yaml_text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_data_needs_exactly_one_source(tmp_path):
    with pytest.raises(ConfigError, match="data.path .* data.archive_url"):
        load_config(write_config(tmp_path / "c.yaml", "data:\n  path: a\n  archive_url: http://x/a.tgz\n"))
    with pytest.raises(ConfigError, match="data: required key is missing"):
        load_config(write_config(tmp_path / "d.yaml", "train:\n  epochs: 1\n"))


def test_errors_from_set_say_set(tmp_path):
    path = write_config(tmp_path / "c.yaml", MINIMAL)
    with pytest.raises(ConfigError, match=r"^--set: train.epoch: unknown key; did you mean train.epochs\?"):
        load_config(path, ["train.epoch=2"])
    with pytest.raises(ConfigError, match=r"--set train.epochs: expected KEY=VALUE"):
        load_config(path, ["train.epochs"])


def test_set_values_are_typed_like_yaml():
    assert parse_override("train.epochs=2") == ("train.epochs", 2)
    assert parse_override("runtime.progress=false") == ("runtime.progress", False)
    assert parse_override("data.classes=[neg, pos]") == ("data.classes", ["neg", "pos"])
    assert parse_override("experiment.name=a:b") == ("experiment.name", "a:b")


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write_config(tmp_path / "broken.yaml", "data:\n  path: [unclosed\ntrain: {\n")
    with pytest.raises(ConfigError, match=rf"^{path}:\d+:\d+: YAML syntax error"):
        load_config(path)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write_config(tmp_path / "list.yaml", "- a\n- b\n"))


def test_yaml_tags_are_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = write_config(tmp_path / "evil.yaml",
                        f"data: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError, match="YAML"):
        load_config(path)
    assert not marker.exists()


@pytest.mark.parametrize("train", ["epochs: 7", "threshold: {precision: 0.8}", "threshold: {recall: 0.9}",
                                   "threshold: auto", "threshold: 0.3"])
def test_dumped_config_reloads_to_the_same_tree(tmp_path, train):
    # A run's config.yaml is read back by evaluate, resume and `train RUN/config.yaml`.
    config = load_config(write_config(tmp_path / "c.yaml", MINIMAL + f"train:\n  {train}\n"))
    again = Config.model_validate(yaml.safe_load(dump_config(config)))
    assert again == config


def test_example_configs_are_valid_and_their_encoders_resolve():
    from bertclf.encoders.registry import model_before_pretraining, resolve_spec

    paths = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
    assert len(paths) >= 6
    for path in paths:
        config = load_config(path)
        model = config.model
        if config.model.encoder == config.pretrain.output:
            # Fine-tunes what `bertclf pretrain` writes: the encoder it adapts must resolve.
            model = model_before_pretraining(config)
        spec = resolve_spec(model)
        assert spec.name == model.encoder and spec.source in ("tiny", "package", "hub"), path


@pytest.mark.parametrize("value, expected", [
    ("0.3", 0.3), ("auto", "auto"), ("{precision: 0.9}", {"precision": 0.9, "recall": None}),
    ("{recall: 0.8}", {"precision": None, "recall": 0.8})])
def test_threshold_settings(tmp_path, value, expected):
    threshold = load_config(write_config(tmp_path / "c.yaml", MINIMAL), [f"train.threshold={value}"]).train.threshold
    assert (threshold.model_dump() if hasattr(threshold, "model_dump") else threshold) == expected
    assert load_config(write_config(tmp_path / "d.yaml", MINIMAL)).train.threshold == 0.5


@pytest.mark.parametrize("settings, message", [
    ({"format": "csv", "train_path": "t.csv", "classes": ["a", "b"]}, "data.classes is for format: directory"),
    ({"format": "tsv", "train_path": "t.tsv", "test_dir": "testing"}, "data.test_dir is for format: directory"),
    ({"format": "jsonl", "train_path": "t.jsonl", "validation_dir": "dev"}, "data.validation_dir is for format"),
    ({"path": "data", "archive_subdir": "aclImdb"}, "data.archive_subdir names a folder inside data.archive_url"),
    ({"format": "csv", "train_path": "t.csv", "validation_path": "v.csv", "validation_split": 0.1},
     "data.validation_split splits validation off training, but data.validation_path gives"),
    ({"path": "data", "validation_dir": "dev", "stratify": False},
     "data.stratify splits validation off training, but data.validation_dir gives"),
    ({"format": "tsv", "train_path": "t.tsv", "text_pair_column": "b", "truncation": "tail"},
     "data.truncation applies to single texts; sentence pairs are trimmed longest-first"),
])
def test_keys_that_would_be_ignored_are_refused(settings, message):
    from bertclf.config import DataConfig

    with pytest.raises(ValueError, match=message):
        DataConfig(**settings)


def test_a_saved_config_with_every_key_still_loads(tmp_path):
    """The refusals compare with defaults, so a run's config.yaml (every key written) reloads."""
    from bertclf.config import dump_config, load_config

    source = tmp_path / "c.yaml"
    source.write_text("data: {format: tsv, train_path: t.tsv, validation_path: v.tsv, text_pair_column: b}\n"
                      "model: {encoder: tiny}\n")
    saved = tmp_path / "saved.yaml"
    saved.write_text(dump_config(load_config(source)))
    assert load_config(saved).data.validation_path.endswith("v.tsv")


def test_model_encoder_is_required_and_the_error_lists_what_works_offline(tmp_path):
    """A config without it used to train a randomly initialised `tiny` without a word."""
    with pytest.raises(ConfigError, match=r"model.encoder: required key is missing; name a registry encoder "
                                          r"\(usable offline here: tiny, .*`bertclf models list`\) or an encoder folder"):
        load_config(write_config(tmp_path / "c.yaml", "data:\n  path: data\ntrain:\n  epochs: 1\n"))
