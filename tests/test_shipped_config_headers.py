"""Every shipped config's header says what it reaches and how long it takes, or "not measured"."""

from __future__ import annotations

import re

import pytest

from conftest import PROJECT_ROOT

CONFIGS = sorted((PROJECT_ROOT / "configs").glob("*.yaml"))


def _header(config) -> str:
    header = []
    for line in config.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# "))
    return " ".join(header)


def _results_row(config) -> str:
    """The config's row of docs/RESULTS.md's table of what each shipped config reaches."""
    results = (PROJECT_ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    rows = [line for line in results.splitlines() if line.startswith(f"| `{config.name}`")]
    assert len(rows) == 1, f"docs/RESULTS.md: one row for {config.name} in the table of shipped configs"
    return rows[0]


def _figures(text: str, unit: str) -> list[tuple[str, int]]:
    """Each figure written with `unit` ('%' or ' s'), as (digits without separators, decimals)."""
    found = re.findall(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?" + re.escape(unit) + r"(?![A-Za-z])", text)
    return [(whole.replace(",", "") + ("." + frac if frac else ""), len(frac)) for whole, frac in found]


def _written(value: str, decimals: int) -> str:
    from decimal import ROUND_HALF_UP, Decimal

    return str(Decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_the_header_states_a_measured_result_or_not_measured(config):
    text = _header(config)
    # A result: the word, a date and a percentage (and a time: seconds or minutes).
    measured = ("easured" in text and re.search(r"\b20\d\d-\d\d-\d\d\b", text)
                and re.search(r"\d+(\.\d+)?%", text) and re.search(r"\d+(\.\d+)? (s|min|minutes)\b", text))
    assert measured or "not measured" in text, f"{config.name}: say what it reaches and when it was measured"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_the_headers_figures_are_the_ones_in_results(config):
    """Each percentage and time in a config's header is one docs/RESULTS.md or BENCHMARKS.md records
    (at the header's precision), and "not measured" agrees with the config's row of RESULTS."""
    text, row = _header(config), _results_row(config)
    assert ("not measured" in text) == ("not measured" in row), f"{config.name}: header and RESULTS disagree"
    docs = " ".join((PROJECT_ROOT / "docs" / name).read_text(encoding="utf-8") for name in ("RESULTS.md",
                                                                                           "BENCHMARKS.md"))
    for unit in ("%", " s"):
        recorded = {_written(value, decimals) for value, _ in _figures(docs, unit)
                    for decimals in range(0, 3) if len(value.partition(".")[2]) >= decimals}
        for value, decimals in _figures(text, unit):
            assert _written(value, decimals) in recorded, f"{config.name}: {value}{unit} is in no docs/ record"


def test_the_readme_csv_example_is_a_valid_config(tmp_path, capsys):
    """README, "Your own CSV": the config it writes passes `config check` as written."""
    from bertclf.cli import main

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("## Your own CSV")
    section = readme[start:readme.index("\n## ", start)]
    block = section[section.index("<<'YAML'\n") + len("<<'YAML'\n"):section.index("\nYAML\n")]
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "mine.yaml"
    config.write_text(block + "\n", encoding="utf-8")
    assert main(["config", "check", str(config), "--json"]) == 0
    import json

    resolved = json.loads(capsys.readouterr().out)["resolved"]
    assert resolved["data"]["train_path"] == str(tmp_path / "data" / "reviews.csv")
    assert resolved["data"]["text_column"] == "review" and resolved["train"]["time_budget"] == "20m"


@pytest.mark.parametrize("config", CONFIGS, ids=lambda path: path.stem)
def test_no_shipped_config_points_into_the_repositorys_surroundings(config):
    """Files are named under the data root (`${BERTCLF_DATA}`), never as ../shared/..., which exists
    only beside this repository; in settings and comments alike."""
    import yaml

    text = config.read_text(encoding="utf-8")
    assert "shared/" not in text, f"{config.name}: names ../shared; use ${{BERTCLF_DATA}}/..."
    data = (yaml.safe_load(text) or {}).get("data") or {}
    for key in ("train_path", "validation_path", "test_path"):
        value = data.get(key)
        if value is not None and config.name != "imdb_csv.yaml":  # its files are made by a script
            assert value.startswith("${BERTCLF_DATA}/"), f"{config.name}: data.{key} {value}"
