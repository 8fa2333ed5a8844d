"""Every shipped config's header says what it reaches and how long it takes, or "not measured"."""

from __future__ import annotations

import re

import pytest

from conftest import PROJECT_ROOT

CONFIGS = sorted((PROJECT_ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_the_header_states_a_measured_result_or_not_measured(config):
    header = []
    for line in config.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    text = " ".join(header)
    # A result: the word, a date and a percentage (and a time: seconds or minutes).
    measured = ("easured" in text and re.search(r"\b20\d\d-\d\d-\d\d\b", text)
                and re.search(r"\d+(\.\d+)?%", text) and re.search(r"\d+(\.\d+)? (s|min|minutes)\b", text))
    assert measured or "not measured" in text, f"{config.name}: say what it reaches and when it was measured"


def test_the_readme_csv_example_is_a_valid_config(tmp_path, capsys):
    """README, "Your own CSV": the config it writes passes `config check` as written."""
    from bertclf.cli import main

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Your own CSV"):readme.index("## A config")]
    block = section[section.index("<<'YAML'\n") + len("<<'YAML'\n"):section.index("\nYAML\n")]
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "mine.yaml"
    config.write_text(block + "\n", encoding="utf-8")
    assert main(["config", "check", str(config), "--json"]) == 0
    import json

    resolved = json.loads(capsys.readouterr().out)["resolved"]
    assert resolved["data"]["train_path"] == str(tmp_path / "data" / "reviews.csv")
    assert resolved["data"]["text_column"] == "review" and resolved["train"]["time_budget"] == "20m"
