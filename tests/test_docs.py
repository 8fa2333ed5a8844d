"""Every command and code block of README.md, CONTRIBUTING.md and docs/*.md, checked or run.

A block's fence says what it is: ```bash, ```python and ```yaml are checked; a fence without a
language is sample output (a plan line, an error) and is not. In a bash block, each command
(continued lines joined, comments dropped) is:

- `bertclf ...`: parsed by the real command line (command names, options, argument types) and,
  when it names a config of this repository, that config loaded with the command's `--set`
  overrides as `bertclf train` loads it (every key must exist and validate; `--space` files
  parse). Commands that read a run, and the quick ones, run for real (`RUN_COMMANDS`) against a
  tiny trained run put where the block expects it (`RUN`, `runs/<name>-<time>`). Training the
  shipped configs takes 13-30 minutes each: here their commands are checked, and
  tests/test_shipped_configs.py trains every shipped config on a sample.
- another program (`OTHER`): make targets exist in the Makefile, scripts exist and answer
  `--help`, pip's requirement files and extras exist; `git worktree` is not run.

The README's "Your own CSV" and "Evaluate, predict, serve" blocks, and the Python and `curl`
examples of docs/runs.md and docs/serving.md, run whole (tests below); README's "From Python" is
tests/test_api.py's `test_the_readme_example_runs_as_written`, and docs/python.md repeats it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from bertclf import artifacts
from conftest import PROJECT_ROOT, needs_minilm, own_copy, synthetic_texts

DOC_FILES = [PROJECT_ROOT / "README.md", PROJECT_ROOT / "CONTRIBUTING.md",
             *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
# Commands that only read a run or the registry, or answer in seconds: run for real.
RUN_COMMANDS = {("evaluate",), ("predict",), ("report",), ("runs", "list"), ("runs", "compare"),
                ("models", "list"), ("models", "show"), ("config", "check"), ("env",), ("export",)}
# Placeholders the docs use for a run folder.
RUN_PLACEHOLDER = re.compile(r"^(RUN(_[AB])?|runs/[\w.-]*-(\d{8}-\d{6}|<time>))$")


@dataclasses.dataclass
class Block:
    """A fenced block: where it starts, its language and its text."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(PROJECT_ROOT)}:{self.line}"


def doc_blocks() -> list[Block]:
    blocks = []
    for path in DOC_FILES:
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            blocks.append(Block(path, text.count("\n", 0, match.start()) + 1, match.group(1), match.group(2)))
    return blocks


def commands(block: Block) -> list[list[str]]:
    """A bash block's commands as argument lists: continuation lines joined, comments dropped,
    `NAME=value` lines substituted into later `$NAME`, heredoc bodies skipped."""
    joined, heredoc_end = [], None
    for line in block.text.replace("\\\n", " ").splitlines():
        if heredoc_end is not None:
            heredoc_end = None if line.strip() == heredoc_end else heredoc_end
            continue
        heredoc = re.search(r"<<'?(\w+)'?", line)
        if heredoc:
            heredoc_end = heredoc.group(1)
            line = line[:heredoc.start()]
        joined.append(line)
    variables, result = {}, []
    for line in joined:
        words = shlex.split(line, comments=True)
        if words[:1] == ["export"]:
            words = words[1:]
        if not words:
            continue
        if len(words) == 1 and re.fullmatch(r"\w+=.*", words[0]):
            name, value = words[0].split("=", 1)
            variables[name] = value
            continue
        result.append([re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), w) for w in words])
    return result


def program(words: list[str]) -> list[str]:
    """The command without what runs it: `VAR=x`, `export`, `/usr/bin/time -v`, `.venv/bin/`, `python -m`."""
    while words and (re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]) or words[0] in ("/usr/bin/time", "-v", "export")):
        words = words[1:]
    if words and words[0].startswith(".venv/bin/"):
        words = [words[0][len(".venv/bin/"):], *words[1:]]
    if words[:3] == ["python", "-m", "bertclf"]:  # the package's __main__: the command itself
        words = ["bertclf", *words[3:]]
    return words


def parse_bertclf(args: list[str]):
    """(the command's path, its parsed parameters) as the real CLI parses them; a usage error raises."""
    from typer.main import get_command

    import bertclf.cli  # noqa: F401  (registers the commands)
    from bertclf.cli.app import app

    command = get_command(app)
    context = command.make_context("bertclf", list(args))
    names = []
    while hasattr(command, "resolve_command"):
        rest = [*getattr(context, "_protected_args", []), *context.args]
        name, command, rest = command.resolve_command(context, rest)
        names.append(name)
        context = command.make_context(name, rest, parent=context)
    return tuple(names), context.params


def check_bertclf(args: list[str]) -> tuple:
    """Parses a `bertclf` command and loads the config it names, with its overrides, as it would."""
    from bertclf.config import load_config

    names, params = parse_bertclf(args)
    config = params.get("config")
    config = PROJECT_ROOT / config if config is not None else None
    if config is not None and config.suffix == ".yaml" and config.is_file():
        overrides = list(params.get("overrides") or [])
        load_config(config, overrides)
        if params.get("space") is not None:
            check_space(PROJECT_ROOT / params["space"], config, overrides)
    return names


def check_space(space: Path, config: Path, overrides: list[str]) -> None:
    """A search space parses, every value of it making a valid config (as `bertclf sweep` checks)."""
    from bertclf.config.loading import config_from_mapping, parse_override, read_config_mapping
    from bertclf.sweep.space import load_space

    raw, fixed = read_config_mapping(config), dict(parse_override(item) for item in overrides)
    assert load_space(space, lambda params: config_from_mapping(raw, str(config), config.parent,
                                                                {**fixed, **params}))


def make_targets() -> set[str]:
    text = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([\w-]+):", text, re.M))


def check_other(words: list[str], where: str) -> None:
    """A command of another program: what it names must exist."""
    name = words[0]
    if name == "make":
        missing = [t for t in words[1:] if not t.startswith("-") and "=" not in t and t not in make_targets()]
        assert not missing, f"{where}: make {missing}: no such target in the Makefile"
    elif name == "python" and words[1] == "-c":
        compile(words[2], where, "exec")  # a one-liner: it must at least be Python
    elif name.startswith("scripts/") or (name == "python" and words[1].startswith("scripts/")):
        script = PROJECT_ROOT / (name if name.startswith("scripts/") else words[1])
        assert script.is_file(), f"{where}: {script.name}: no such script"
        if script.suffix == ".py":
            done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True,
                                  timeout=120, cwd=PROJECT_ROOT)
            assert done.returncode == 0, f"{where}: {script.name} --help: {done.stderr[-800:]}"
        else:
            assert os.access(script, os.X_OK), f"{where}: {script.name} is not executable"
    elif name == "pip":
        for i, word in enumerate(words):
            if word == "-r":
                assert (PROJECT_ROOT / words[i + 1]).is_file(), f"{where}: {words[i + 1]}: no such file"
            extra = re.fullmatch(r"\.\[(\w+)\]", word)
            if extra:
                assert f"\n{extra.group(1)} = [" in (PROJECT_ROOT / "pyproject.toml").read_text(), \
                    f"{where}: pip install {word}: pyproject.toml has no extra {extra.group(1)!r}"
    elif name == "pytest":
        for i, word in enumerate(words[:-1]):
            if word == "-m":
                markers = set(re.findall(r"\w+", words[i + 1])) - {"and", "or", "not"}
                registered = (PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8")
                missing = [m for m in markers if not re.search(rf'"{m}:', registered)]
                assert not missing, f"{where}: pytest -m: no marker {missing} in pyproject.toml"
    elif name == "tensorboard":
        assert (Path(sys.executable).parent / "tensorboard").is_file(), f"{where}: tensorboard is not installed"
    elif name in ("git", "curl", "cat"):
        pass  # git worktree: not run (it changes the repository); curl and cat: run by the tests below
    else:
        raise AssertionError(f"{where}: {' '.join(words)}: a command this test does not know how to check; "
                             f"teach tests/test_docs.py")


@pytest.mark.parametrize("block", [b for b in doc_blocks() if b.lang == "bash"], ids=lambda b: b.where)
def test_every_command_of_the_docs_parses_and_names_what_exists(block, monkeypatch):
    monkeypatch.setenv("BERTCLF_DATA", "/nonexistent-data-root")  # loading a config reads no data
    for words in commands(block):
        words = program(words)
        if words[0] == "bertclf":
            try:
                check_bertclf(words[1:])
            except Exception as error:  # a usage error or a config error: say which line
                message = getattr(error, "format_message", lambda: str(error))()
                raise AssertionError(f"{block.where}: {' '.join(words)}: {message}") from None
        else:
            check_other(words, block.where)


def test_the_docs_blocks_are_all_of_a_kind_this_file_checks():
    kinds = {(b.where, b.lang) for b in doc_blocks() if b.lang not in ("bash", "python", "yaml", "")}
    assert not kinds, f"blocks of a language nobody checks: {sorted(kinds)}"


def _yaml_blocks():
    return [b for b in doc_blocks() if b.lang == "yaml"]


MINIMAL = {"experiment": {"name": "docs"}, "model": {"encoder": "tiny"}, "data": {"path": "data"}}


@pytest.mark.parametrize("block", _yaml_blocks(), ids=lambda b: b.where)
def test_every_yaml_block_of_the_docs_is_valid(block, tmp_path, monkeypatch):
    """A config (or a part of one, completed by a minimal config) loads; a search space parses."""
    from bertclf.config import load_config

    monkeypatch.setenv("BERTCLF_DATA", str(tmp_path / "root"))
    data = yaml.safe_load(block.text)
    path = tmp_path / "configs" / "block.yaml"
    path.parent.mkdir()
    if all("." in str(key) for key in data):  # a search space (dotted keys), for the config it names
        path.write_text(block.text, encoding="utf-8")
        named = re.search(r"configs/spaces/(\w+)\.yaml", block.text)
        check_space(path, PROJECT_ROOT / "configs" / f"{named.group(1) if named else 'smoke'}.yaml", [])
        return
    config = dict(MINIMAL) if "experiment" not in data else {}
    for key, value in data.items():
        if key == "data" and "data" in config:
            config["data"] = {}
        config[key] = value
    if "data" in config and set(config["data"]) & {"train_path", "test_path"}:
        config["data"].pop("path", None)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    try:
        load_config(path)
    except Exception as error:
        raise AssertionError(f"{block.where}: {error}") from None


# --- Blocks that run whole, against a tiny run named as the docs' examples are ---------------------------


@pytest.fixture(scope="module")
def docs_run(binary_run) -> Path:
    """The session's finished tiny run (experiment `e2e`; the serving examples ask for the docs'
    `imdb_small`, which the serving test renames in their URLs as it does their port)."""
    return binary_run


def _substituted(words: list[str], runs: dict[str, Path]) -> list[str]:
    out = []
    for word in words:
        if RUN_PLACEHOLDER.match(word):
            word = str(runs["RUN_B" if word == "RUN_B" else "RUN"])
        elif word.startswith("configs/"):
            word = str(PROJECT_ROOT / word)
        out.append(word)
    return out


def _runnable(words: list[str]) -> bool:
    """Placeholders for files the reader has (path/to/..., ~/.cache/...) cannot run here."""
    return not any("path/to" in w or w.startswith("~") or "<" in w or w in ("CONFIG", "SPACE", "FILE")
                   for w in words)


def test_the_commands_that_read_a_run_run_as_written(docs_run, tmp_path, monkeypatch, capsys):
    """Every `evaluate`, `predict`, `report`, `runs`, `models`, `config check`, `env` and `export` line of the docs,
    run in a folder whose ./runs holds a tiny run (RUN, and a second for RUN_B)."""
    from bertclf.cli import main

    monkeypatch.chdir(tmp_path)
    runs = {"RUN": own_copy(docs_run, tmp_path)}
    second = tmp_path / "runs" / (docs_run.name + "-b")
    shutil.copytree(docs_run, second)
    runs["RUN_B"] = second
    (tmp_path / "runs" / artifacts.LATEST_FILE).write_text(runs["RUN"].name, encoding="utf-8")
    ran = []
    for block in doc_blocks():
        if block.lang != "bash" or "<<'YAML'" in block.text:  # README's CSV block: run whole, below
            continue
        for words in map(program, commands(block)):
            if words[0] != "bertclf" or not _runnable(words):
                continue
            names, _ = parse_bertclf(words[1:])
            if names not in RUN_COMMANDS:
                continue
            args = _substituted(words[1:], runs)
            if " ".join(words) in ran:  # the same command again (three pages show the int8 export): run once
                continue
            for flag, name in zip(args, args[1:]):  # the reader's own file of texts, made up here
                if flag == "--file" and not Path(name).exists():
                    texts = synthetic_texts("pos", 3, seed=4)
                    column = args[args.index("--text-column") + 1] if "--text-column" in args else None
                    if name.endswith(".jsonl"):
                        lines = [json.dumps({column or "text": t}) for t in texts]
                    else:
                        lines = [column, *(f'"{t}"' for t in texts)] if column else texts
                    Path(name).write_text("\n".join(lines) + "\n", encoding="utf-8")
            code = main(args)
            out = capsys.readouterr()
            assert code == 0, f"{block.where}: {' '.join(words)}: exit {code}: {out.err[-800:]}"
            ran.append(" ".join(words))
    # What the README promises its readers can run, among them:
    for expected in ("bertclf evaluate", "bertclf evaluate RUN --full", "bertclf report", "bertclf runs list",
                     "bertclf predict RUN great film awful film --json", "bertclf runs compare RUN_A RUN_B",
                     "bertclf export RUN --format onnx --quantize int8"):
        assert expected in ran, f"{expected!r} was not run: {ran}"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _block(path: str, lang: str, containing: str) -> Block:
    found = [b for b in doc_blocks() if b.path == PROJECT_ROOT / path and b.lang == lang and containing in b.text]
    assert len(found) == 1, f"{path}: {len(found)} {lang} blocks contain {containing!r}"
    return found[0]


def _served(text: str, port: int) -> str:
    """The docs' address and model name, as the test's server has them."""
    return text.replace("127.0.0.1:8501", f"127.0.0.1:{port}").replace("/v1/models/imdb_small:", "/v1/models/e2e:")


def test_the_serving_examples_answer_as_written(docs_run, tmp_path):
    """`bertclf serve` as README and docs/serving.md start it, then their curl and Python clients,
    with the port (8501 may be taken where the tests run) and the run's name as the one changes."""
    port = _free_port()
    (tmp_path / "runs").mkdir()
    shutil.copytree(docs_run, tmp_path / "runs" / docs_run.name)
    (tmp_path / "runs" / artifacts.LATEST_FILE).write_text(docs_run.name, encoding="utf-8")
    server = subprocess.Popen([str(Path(sys.executable).parent / "bertclf"), "serve", "--port", str(port)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/e2e", timeout=5)
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()[-2000:]
                time.sleep(0.5)
        curls = [(b, words) for b in doc_blocks() if b.lang == "bash" for words in commands(b) if words[0] == "curl"]
        assert {b.path.name for b, _ in curls} == {"README.md", "serving.md"}
        for block, words in curls:
            words = [_served(w, port) for w in words]
            done = subprocess.run(words, capture_output=True, text=True, timeout=60)
            answer = json.loads(done.stdout)
            assert [p["label"] for p in answer["predictions"]], f"{block.where}: {done.stdout}"
            assert all(abs(sum(p["probabilities"]) - 1) < 1e-5 for p in answer["predictions"]), block.where
        client = _block("docs/serving.md", "python", "urllib.request")
        namespace: dict = {}
        exec(compile(_served(client.text, port), client.where, "exec"), namespace)
    finally:
        server.terminate()
        server.wait(timeout=60)


def test_the_savedmodel_example_of_the_run_folder_runs_as_written(docs_run):
    """docs/runs.md: the SavedModel with TensorFlow alone, on a run folder of its own."""
    block = _block("docs/runs.md", "python", "tf.saved_model.load")
    named = re.search(r"runs/[\w.-]+-\d{8}-\d{6}", block.text).group(0)
    namespace: dict = {}
    exec(compile(block.text.replace(named, str(docs_run)), block.where, "exec"), namespace)
    probabilities = namespace["out"]["probabilities"].numpy()
    assert probabilities.shape == (1, 2) and abs(probabilities.sum() - 1) < 1e-5


def test_the_python_page_shows_the_readme_example_that_test_api_runs():
    """docs/python.md repeats README's "From Python", which tests/test_api.py runs as written."""
    readme = _block("README.md", "python", "bertclf.train")
    assert _block("docs/python.md", "python", "bertclf.train").text == readme.text


@needs_minilm
def test_the_readme_csv_section_runs_as_written(tiny_encoder_dir, tmp_path, monkeypatch, capsys):
    """README, "Your own CSV", in a folder with the files it names: the config its heredoc writes,
    `data check` and `predict --file` as written; `train` as written plus the tiny encoder and one
    epoch (MiniLM for 20 minutes is what the reader runs; tests/test_shipped_configs.py trains MiniLM)."""
    from bertclf.cli import main

    block = _block("README.md", "bash", "<<'YAML'")
    heredoc = block.text.split("<<'YAML'\n", 1)[1].split("\nYAML\n", 1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.yaml").write_text(heredoc + "\n", encoding="utf-8")
    (tmp_path / "data").mkdir()
    for name, count, seed in (("reviews.csv", 24, 1), ("reviews_test.csv", 8, 2), ("../new.csv", 3, 3)):
        rows = [(text, label) for label in ("bad", "good")
                for text in synthetic_texts("pos" if label == "good" else "neg", count, seed=seed)]
        lines = ["review,sentiment", *(f'"{text}",{label}' for text, label in rows)]
        (tmp_path / "data" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    bertclf_lines = [program(words) for words in commands(block) if program(words)[0] == "bertclf"]
    assert [w[1] for w in bertclf_lines] == ["data", "train", "predict"]
    for words in bertclf_lines:
        args = words[1:]
        if args[0] == "train":
            args += ["--set", f"model.encoder={tiny_encoder_dir}", "--set", "train.epochs=1",
                     "--set", "train.time_budget=null", "--set", "model.seq_length=32"]
        code = main(args)
        out = capsys.readouterr()
        assert code == 0, f"{block.where}: {' '.join(words)}: {out.err[-800:]}"
    predicted = (tmp_path / "predicted.csv").read_text(encoding="utf-8").splitlines()
    assert predicted[0].split(",")[-4:] == ["label", "probability", "p_bad", "p_good"] and len(predicted) == 7
