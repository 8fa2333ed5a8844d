"""The config schema: every section, its defaults and its validation (the one typed tree).

Loading, overrides and error messages are `bertclf.config.loading`'s. No TensorFlow here.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from bertclf.config.data_schema import DataConfig
from bertclf.config.section import Section as _Section
from bertclf.durations import parse_duration


class ExperimentConfig(_Section):
    """Naming, seeding and where runs go."""

    name: str = Field("experiment", pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = 42
    output_dir: str = "runs"


class TinyEncoderConfig(_Section):
    """Shape of the randomly initialised BERT that `model.encoder: tiny` builds."""

    layers: int = Field(2, ge=1, le=24)
    hidden: int = Field(128, ge=8, le=2048)
    heads: int = Field(2, ge=1, le=64)
    intermediate: Optional[int] = Field(None, ge=8)
    vocab_size: int = Field(8000, ge=100, le=100_000)
    vocab_sample: int = Field(20_000, ge=10)
    lower_case: bool = True
    # Dropout inside the encoder (hidden states and attention), BERT's 0.1 by default; 0 makes
    # training a pure function of the data order, which tests of resuming rely on.
    dropout: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _heads_divide_hidden(self) -> "TinyEncoderConfig":
        if self.hidden % self.heads:
            raise ValueError(
                f"model.tiny.hidden ({self.hidden}) must be a multiple of "
                f"model.tiny.heads ({self.heads})")
        return self


class ModelConfig(_Section):
    """The encoder and the classification head on top of it."""

    # Required: a silent default would train a randomly initialised encoder (see _missing_encoder).
    encoder: str
    encoder_handle: Optional[str] = None
    preprocess_handle: Optional[str] = None
    seq_length: int = Field(128, ge=8, le=512)
    dropout: float = Field(0.1, ge=0, lt=1)
    pooling: Literal["pooled", "cls", "mean"] = "pooled"
    # Keep the token-embedding table fixed (position/type embeddings and every layer still
    # train). For large multilingual vocabularies the table is most of the model: freezing it
    # saves its optimizer state and its per-step update (see docs/RESULTS.md, NSMC).
    freeze_embeddings: bool = False
    # Rebuild the encoder natively (encoders/native.py, FastDropout) in float32 too, instead of
    # training its TF Hub SavedModel; reduced precisions and freeze_embeddings always rebuild it.
    # A float32 step was 1.03-1.09x as fast so (docs/BENCHMARKS.md, 2026-12-07).
    native_encoder: bool = False
    # Texts longer than seq_length: `truncate` reads data.truncation's part of each; `windows`
    # reads the whole text as windows of seq_length tokens, window_stride apart (default: half
    # a window), at most max_windows of them (evenly spaced, first and last kept), and gives the
    # text the windows' window_aggregation (encoders/windows.py). Scoring during training, the
    # exported model and every runtime do the same. Single texts only.
    long_text: Literal["truncate", "windows"] = "truncate"
    window_stride: Optional[int] = Field(None, ge=1)
    max_windows: int = Field(16, ge=1, le=256)
    window_aggregation: Literal["mean", "max", "weighted"] = "mean"
    tiny: TinyEncoderConfig = Field(default_factory=TinyEncoderConfig)

    @model_validator(mode="after")
    def _handles_in_pairs(self) -> "ModelConfig":
        if (self.encoder_handle is None) != (self.preprocess_handle is None):
            raise ValueError(
                "model.encoder_handle and model.preprocess_handle go together: "
                "an encoder needs the preprocessor that matches its vocabulary")
        if self.window_stride is not None and self.window_stride > self.seq_length - 2:
            raise ValueError(f"model.window_stride {self.window_stride} is longer than a window's "
                             f"{self.seq_length - 2} tokens (seq_length - 2): text between windows "
                             f"would never be read")
        return self

    @property
    def stride(self) -> int:
        """Tokens between two windows' starts: window_stride, or half a window."""
        return self.window_stride or max(1, (self.seq_length - 2) // 2)


class ThresholdTarget(_Section):
    """`train.threshold: {precision: P}` or `{recall: R}`: the validation operating point to aim for.

    precision: the lowest threshold whose validation precision (of the positive class) is at
    least P, so the most recall at that precision; recall: the highest threshold whose
    validation recall is at least R, so the most precision at that recall.
    """

    precision: Optional[float] = Field(None, gt=0, le=1)
    recall: Optional[float] = Field(None, gt=0, le=1)

    @model_validator(mode="after")
    def _exactly_one(self) -> "ThresholdTarget":
        if (self.precision is None) == (self.recall is None):
            raise ValueError("train.threshold takes one target: {precision: P} or {recall: R}")
        return self


class RunPlan(_Section):
    """The size a time budget chose for a run (`train.plan`): written into the run's saved config,
    so that training from that config repeats the run without measuring again."""

    train_examples: int = Field(..., ge=1)
    epochs: int = Field(..., ge=1, le=1000)
    # What the plan was made for (`train.time_budget` in seconds, `train.epochs`): a config that
    # now says otherwise is planned again instead of silently keeping this plan. None: unknown
    # (a plan written by hand, or by an older bertclf), used as is.
    budget_seconds: Optional[float] = Field(None, gt=0)
    max_epochs: Optional[int] = Field(None, ge=1, le=1000)


class TrainConfig(_Section):
    """Optimisation: AdamW with linear warmup, then linear decay to zero."""

    epochs: int = Field(3, ge=1, le=1000)
    batch_size: int = Field(32, ge=1, le=4096)
    learning_rate: float = Field(5e-5, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0, lt=1)
    warmup_fraction: float = Field(0.1, ge=0, lt=1)
    # balanced: each class (label sets: each label's positives) weighs by its rarity; sqrt_balanced:
    # by the square root of that; a mapping names classes or labels (missing ones weigh 1).
    class_weight: Union[Literal["none", "balanced", "sqrt_balanced"], dict[str, float]] = "none"
    # Default: val_loss, or val_micro_f1 for multi-label data (resolved with the whole config).
    monitor: Optional[Literal["val_loss", "val_accuracy", "val_macro_f1", "val_roc_auc", "val_pr_auc",
                              "val_micro_f1", "val_average_precision"]] = None
    # Stop after this many epochs without a better `monitor`; None trains every epoch.
    early_stopping_patience: Optional[int] = Field(None, ge=1, le=1000)
    # Binary tasks: predict the positive (second) class when its probability is at least this.
    # auto: the threshold that maximises the positive class's F1 on validation; a target
    # ({precision: P} or {recall: R}) picks the validation operating point that meets it.
    # The exported model stores it and applies it to `label` (probabilities are unchanged).
    # Multi-label data: a probability for every label, auto (per-label thresholds for the best
    # validation micro F1), or per_label (each label's best validation F1).
    threshold: Union[Literal["auto", "per_label"], float, ThresholdTarget] = 0.5
    # Texts longer than model.seq_length in training: `truncate` (data.truncation's part), `random`
    # (each epoch one of the text's windows, drawn anew) or `all` (every window, each with the
    # text's label: more examples per text; a time budget plans windows).
    windows: Literal["truncate", "random", "all"] = "truncate"
    # Wall-clock bound on the fit (training steps and per-epoch validation, plus the short
    # measurement that plans it): `13m`, `90s`, `1h30m` or seconds. Before training, bertclf
    # times optimizer steps of this model on this data and machine, then trains on the largest
    # seeded, stratified share of the training split that ends within the budget (all of it,
    # and up to `epochs` epochs, when it fits). None: every example, `epochs` epochs.
    time_budget: Optional[Union[str, float]] = None
    # Filled in by a time budget (the run's config.yaml keeps it): the planned size, used as is.
    plan: Optional[RunPlan] = None

    @property
    def time_budget_seconds(self) -> Optional[float]:
        return None if self.time_budget is None else parse_duration(self.time_budget)

    @property
    def run_epochs(self) -> int:
        """The epochs a run trains: the plan's when there is one, else `epochs`."""
        return self.plan.epochs if self.plan is not None else self.epochs

    @field_validator("time_budget", mode="before")
    @classmethod
    def _a_duration(cls, value: Any) -> Any:
        if value is None:
            return value
        parse_duration(value)  # raises ValueError with the accepted forms
        return value if isinstance(value, str) else float(value)

    @field_validator("threshold", mode="before")
    @classmethod
    def _one_threshold(cls, value: Any) -> Any:
        # One clear message instead of one per member of the Union.
        usage = "'auto', a probability between 0 and 1 (exclusive), or {precision: P} / {recall: R}"
        if value in ("auto", "per_label"):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not 0 < value < 1:
                raise ValueError(f"must be {usage}; got {value}")
            return float(value)
        if isinstance(value, dict):
            # A saved config.yaml writes the target out in full ({precision: P, recall: null}).
            value = {key: share for key, share in value.items() if share is not None}
            unknown = sorted(set(map(str, value)) - {"precision", "recall"})
            shares = [v for v in value.values() if not isinstance(v, (int, float)) or not 0 < v <= 1]
            if unknown or len(value) != 1 or shares:
                raise ValueError(f"must be {usage}; got {value}")
            return ThresholdTarget(**value)
        if isinstance(value, ThresholdTarget):
            return value
        raise ValueError(f"must be {usage}; got {value!r}")

    @field_validator("class_weight", mode="before")
    @classmethod
    def _weight_keys_as_text(cls, value: Any) -> Any:
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value


class RuntimeConfig(_Section):
    """How TensorFlow uses the machine."""

    intra_op_threads: int = Field(0, ge=0, le=1024)
    inter_op_threads: int = Field(0, ge=0, le=1024)
    # auto: the fastest precision this machine trains correctly in (bertclf.runtime.hardware: bfloat16
    # on GPUs >= 8.0 and CPUs with AVX512_BF16/AMX, float16 on 7.x GPUs, else float32).
    # Anything but float32 rebuilds the encoder natively (a SavedModel's dtypes are fixed
    # at export) with float32 master weights; see docs/BENCHMARKS.md for what it buys.
    precision: Literal["auto", "float32", "mixed_bfloat16", "mixed_float16"] = "auto"
    # XLA for the numeric model (token ids in). auto: on for GPUs and TPUs, off on CPUs, where
    # compiling each bucket's shape costs more than it saves (docs/BENCHMARKS.md).
    jit_compile: Union[Literal["auto"], bool] = "auto"
    # How training is spread over devices and machines (tf.distribute; bertclf.runtime.hardware):
    # auto: MultiWorkerMirroredStrategy when TF_CONFIG names a cluster, MirroredStrategy when
    # several GPUs are visible, else one device. train.batch_size is the global batch.
    distribution: Literal["auto", "none", "mirrored", "multi_worker", "tpu"] = "auto"
    # Split the CPU into this many logical devices, which `mirrored` then uses as replicas when
    # no GPU is visible: for trying distribution on one machine (no speed-up: same cores).
    cpu_devices: int = Field(1, ge=1, le=64)
    progress: bool = True
    # TensorBoard logs in RUN/tensorboard/: loss and learning rate every tensorboard_steps
    # optimizer steps, every metric per epoch, the config (`tensorboard --logdir runs`).
    tensorboard: bool = True
    tensorboard_steps: int = Field(10, ge=1, le=1_000_000)


class PretrainConfig(_Section):
    """Continued masked-language-model pretraining (`bertclf pretrain`): domain adaptation
    of an encoder on unlabelled text before fine-tuning (Gururangan et al., 2020)."""

    # The encoder to adapt; None: model.encoder (the tiny one is built with model.tiny's shape).
    encoder: Optional[str] = None
    # Where the adapted encoder folder goes, for model.encoder to name; None: RUN/encoder.
    output: Optional[str] = None
    # Training texts to learn from: `all` also takes the training rows that max_train_examples,
    # sample_fraction or class_sample leave out (never validation or test texts).
    train_texts: Literal["labelled", "all", "none"] = "all"
    # More unlabelled text: .txt files (one text per line), folders (each *.txt file under
    # them is one text), or .csv/.tsv/.jsonl files (their data.text_column).
    unlabelled: list[str] = Field(default_factory=list)
    steps: int = Field(1000, ge=1, le=10_000_000)
    # Stop, checkpointed and exported, once this much time has passed (None: run every step).
    max_minutes: Optional[float] = Field(None, gt=0)
    batch_size: int = Field(32, ge=1, le=4096)
    seq_length: int = Field(128, ge=8, le=512)
    learning_rate: float = Field(1e-4, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0, lt=1)
    warmup_fraction: float = Field(0.06, ge=0, lt=1)
    # BERT's recipe: 15% of tokens chosen; of those 80% -> [MASK], 10% random, 10% kept.
    mask_rate: float = Field(0.15, gt=0, lt=1)
    max_predictions: int = Field(20, ge=1, le=512)
    # Packed sequences held out to measure the masked-LM loss before, during and after.
    held_out: int = Field(256, ge=1, le=1_000_000)
    checkpoint_steps: int = Field(200, ge=1, le=10_000_000)


class ExportConfig(_Section):
    """Exports written at the end of training (`bertclf export RUN` writes them later)."""

    # RUN/export/onnx/: model.onnx, tokenizer.json, bertclf.json, checked against the run.
    onnx: bool = False
    # int8: also model.int8.onnx (dynamic, per-channel weights); needs onnx.
    quantize: Optional[Literal["int8"]] = None

    @model_validator(mode="after")
    def _quantize_needs_onnx(self) -> "ExportConfig":
        if self.quantize is not None and not self.onnx:
            raise ValueError("export.quantize quantises the ONNX export; set export.onnx: true too")
        return self


class Config(_Section):
    """The whole experiment."""

    experiment: ExperimentConfig = Field(default_factory=ExperimentConfig)
    data: DataConfig
    model: ModelConfig
    train: TrainConfig = Field(default_factory=TrainConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)

    @model_validator(mode="after")
    def _task_defaults(self) -> "Config":
        windowed = self.model.long_text == "windows" or self.train.windows != "truncate"
        if windowed and self.data.text_pair_column is not None:
            raise ValueError("model.long_text and train.windows read single texts as windows; sentence "
                             "pairs are trimmed to model.seq_length: remove them")
        stray = [f"model.{key}" for key in ("window_stride", "max_windows", "window_aggregation")
                 if getattr(self.model, key) != ModelConfig.model_fields[key].default]
        if stray and not windowed:
            raise ValueError(f"{', '.join(stray)}: only read with model.long_text: windows or "
                             f"train.windows: random or all; set one, or remove them")
        # The monitor a task is best judged by, written into the resolved config.
        if self.train.monitor is None:
            self.train.monitor = "val_micro_f1" if self.data.multi_label else "val_loss"
        return self
