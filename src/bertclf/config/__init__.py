"""The experiment config: one typed tree.

Defaults live in the schema below; a YAML file overrides them; `--set a.b=c`
overrides the file. Unknown keys, wrong types and out-of-range values are
`ConfigError`s naming the file (or `--set`) and the dotted key. Paths written in
the file resolve relative to the file; paths given with `--set` or left at their
defaults resolve relative to the current directory, as command-line paths do.

The schema is `config/schema.py` (its `data` section `config/data_schema.py`), loading and error
messages `config/loading.py`;
both stay free of TensorFlow so that `bertclf config check` and every config error
answer in well under a second.
"""

from bertclf.config.loading import (config_from_mapping, dump_config, load_config, looks_like_path,
                                    parse_override, read_config_mapping, require_runtime_overrides)
from bertclf.config.schema import (Config, DataConfig, ExperimentConfig, ModelConfig, PretrainConfig,
                                   RunPlan, RuntimeConfig, ThresholdTarget, TinyEncoderConfig, TrainConfig)

__all__ = ["Config", "DataConfig", "ExperimentConfig", "ModelConfig", "PretrainConfig", "RunPlan",
           "RuntimeConfig", "ThresholdTarget", "TinyEncoderConfig", "TrainConfig", "config_from_mapping",
           "dump_config", "load_config", "looks_like_path", "parse_override", "read_config_mapping",
           "require_runtime_overrides"]
