"""The sweep's search space: parsing, and one-line errors before any trial (no TensorFlow)."""

from __future__ import annotations

import pytest

from bertclf.errors import ConfigError
from bertclf.sweep.space import Dimension, load_space
from conftest import write_config

CONFIG = """
experiment: {name: space, output_dir: runs}
data: {path: data}
model: {encoder: tiny, seq_length: 32}
train: {epochs: 2}
"""


@pytest.fixture
def validate(tmp_path):
    from bertclf.config import config_from_mapping, read_config_mapping

    raw = read_config_mapping(write_config(tmp_path / "config.yaml", CONFIG))
    return lambda params: config_from_mapping(raw, "config.yaml", tmp_path, params)


def _space(tmp_path, text: str):
    return write_config(tmp_path / "space.yaml", text)


def test_every_kind_parses_in_file_order(tmp_path, validate):
    dimensions = load_space(_space(tmp_path, """
train.learning_rate: {log_uniform: [1.0e-5, 2.0e-4]}
model.seq_length: {choice: [16, 32]}
train.warmup_fraction: {uniform: [0.0, 0.2]}
train.epochs: {int: [1, 5, 2]}
data.truncation: {choice: [head, tail, head_tail]}
"""), validate)
    assert dimensions == [
        Dimension("train.learning_rate", "log_uniform", low=1e-5, high=2e-4),
        Dimension("model.seq_length", "choice", choices=(16, 32)),
        Dimension("train.warmup_fraction", "uniform", low=0.0, high=0.2),
        Dimension("train.epochs", "int", low=1, high=5, step=2),
        Dimension("data.truncation", "choice", choices=("head", "tail", "head_tail")),
    ]
    assert dimensions[3].grid() == [1, 3, 5]
    with pytest.raises(ConfigError, match="train.learning_rate: a grid search needs a finite list"):
        dimensions[0].grid()


@pytest.mark.parametrize("text, message", [
    ("train.learnin_rate: {uniform: [0.1, 0.2]}",
     "space.yaml: train.learnin_rate: unknown config key; did you mean train.learning_rate?"),
    ("trian.epochs: {int: [1, 2]}", "space.yaml: trian.epochs: unknown config key; did you mean train?"),
    ("train.learning_rate: {log_uniform: [1.0e-5, 2]}",
     "space.yaml: train.learning_rate: the config refuses 2.0: Input should be less than or equal to 1"),
    ("model.seq_length: {choice: [32, 4]}",
     "space.yaml: model.seq_length: the config refuses 4: Input should be greater than or equal to 8"),
    ("data.truncation: {choice: [head, middle]}", "space.yaml: data.truncation: the config refuses 'middle'"),
    ("train.epochs: {int: [0, 3]}", "space.yaml: train.epochs: the config refuses 0"),
    ("train.warmup_fraction: {uniform: [0.2, 0.1]}", "train.warmup_fraction: uniform needs low < high"),
    ("train.learning_rate: {log_uniform: [0, 0.1]}", "log_uniform needs bounds above 0"),
    ("train.epochs: {int: [1, 2.5]}", "int bounds must be whole numbers"),
    ("train.epochs: {int: [1, 4, 0]}", "int step must be at least 1"),
    ("train.epochs: {unifrom: [1, 2]}", "unknown distribution 'unifrom'; did you mean uniform?"),
    ("train.epochs: {uniform: [1]}", "uniform needs [low, high]"),
    ("train.epochs: {uniform: [a, 2]}", "uniform bounds must be numbers"),
    ("train.epochs: 3", "expected one of {choice: [a, b, ...]}"),
    ("model.seq_length: {choice: []}", "choice needs a non-empty list"),
    ("model.seq_length: {choice: [32, 32]}", "choice lists a value twice"),
    ("model.seq_length: {choice: [[32], 64]}", "choice values must be numbers, strings, booleans or null"),
    ("train.monitor: {choice: [val_loss, val_accuracy]}", "train.monitor: a sweep cannot vary it: it is the sweep's objective"),
    ("runtime.precision: {choice: [float32]}", "runtime.precision: a sweep cannot vary it"),
    ("experiment.output_dir: {choice: [a, b]}", "experiment.output_dir: a sweep cannot vary it"),
    ("model.tiny: {choice: [1, 2]}", "model.tiny: is a section"),
    ("[1, 2]", "space.yaml: expected a mapping of dotted config keys"),
    ("a: [", "space.yaml: YAML error"),
])
def test_a_bad_space_is_one_line_naming_the_file_and_key(tmp_path, validate, text, message):
    with pytest.raises(ConfigError) as raised:
        load_space(_space(tmp_path, text + "\n"), validate)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_a_missing_space_file(tmp_path, validate):
    with pytest.raises(ConfigError, match="nope.yaml: no such space file"):
        load_space(tmp_path / "nope.yaml", validate)


def test_the_command_reports_a_bad_space_in_one_line_before_importing_tensorflow(tmp_path, capsys):
    import subprocess
    import sys

    write_config(tmp_path / "config.yaml", CONFIG)
    _space(tmp_path, "train.learning_rate: {log_uniform: [1.0e-5, 2]}\n")
    probe = ("import sys; from bertclf.cli import main; code = main(sys.argv[1:]); "
             "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe, "sweep", "config.yaml", "--space", "space.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: space.yaml: train.learning_rate: the config refuses 2.0: Input should be less than or equal to "
        "1 (got 2.0)"]
    for args, message in ((["config.yaml"], "sweep needs CONFIG and --space"),
                          (["config.yaml", "--space", "space.yaml", "--sampler", "bayes"], "--sampler bayes"),
                          (["--report", "nothing-here"], "--report nothing-here: no sweep folder")):
        done = subprocess.run([sys.executable, "-c", probe, "sweep", *args], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_shipped_spaces_load_against_their_configs():
    """configs/spaces/<name>.yaml against configs/<name>.yaml, as README's sweep command uses them."""
    from bertclf.config import config_from_mapping, read_config_mapping
    from conftest import PROJECT_ROOT

    spaces = sorted((PROJECT_ROOT / "configs" / "spaces").glob("*.yaml"))
    assert spaces
    for space in spaces:
        config = PROJECT_ROOT / "configs" / space.name
        raw = read_config_mapping(config)
        dimensions = load_space(space, lambda params: config_from_mapping(raw, str(config), config.parent, params))
        assert len(dimensions) >= 2, space
