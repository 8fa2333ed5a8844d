"""`bertclf data check`: the data report, token lengths included, without training."""

from __future__ import annotations

from bertclf.config import Config
from bertclf.data import LabelledData, load_data
from bertclf.data.report import add_token_lengths
from bertclf.encoders import load_preprocessor, prepare_encoder
from bertclf.encoders.registry import awaiting_pretraining, model_before_pretraining, resolve_spec
from bertclf.runtime.tf_setup import absorb_first_run_notices, setup_tensorflow

# Token lengths are measured on at most this many texts per split (they are a summary).
TOKEN_STATS_SAMPLE = 20_000


def check_data(config: Config) -> LabelledData:
    """Reads the data as training would and measures it with the encoder's tokenizer.

    Raises:
        BertclfError: The same data and encoder errors `bertclf train` would raise.
    """
    data = load_data(config.data, config.experiment.seed)
    absorb_first_run_notices(setup_tensorflow(config.runtime))
    model = config.model
    if awaiting_pretraining(config):
        # Measured with the encoder `bertclf pretrain` adapts: the same tokenizer, not yet written.
        model = model_before_pretraining(config)
        data.report["warnings"].append(f"token lengths measured with {model.encoder}: model.encoder "
                                       f"{config.model.encoder} is written by `bertclf pretrain`")
    encoder = prepare_encoder(resolve_spec(model), model, data.train.texts, config.experiment.seed)
    from bertclf.training.pipeline import encode_split

    preprocessor = load_preprocessor(encoder.preprocess_handle)
    seq_length, truncation = config.model.seq_length, config.data.truncation

    def pack_sample(split):
        return encode_split(split.subset(range(min(len(split), TOKEN_STATS_SAMPLE))), preprocessor, seq_length,
                            truncation)

    add_encoded_token_lengths(data, pack_sample, seq_length,
                              "windows" if config.model.long_text == "windows" else truncation)
    return data


def add_encoded_token_lengths(data: LabelledData, encode, seq_length: int, truncation: str = "head") -> None:
    """Adds wordpiece-length statistics of train and test (before truncation) to the data report.

    Args:
        encode: A split -> `EncodedSplit` function: in a run `pipeline.SplitEncoder`,
            so the splits are packed once, for training and for these statistics.
            At most `TOKEN_STATS_SAMPLE` texts of each split are counted.
    """
    for name, split in (("train", data.train), ("test", data.test)):
        if split is not None:
            lengths = encode(split).full_lengths[:TOKEN_STATS_SAMPLE].tolist()
            add_token_lengths(data.report, name, lengths, seq_length, truncation if split.pairs is None else None)
