"""Training on several devices and machines with TensorFlow's own tf.distribute.

`start_distribution` decides `runtime.distribution` (`bertclf.runtime.hardware`), sets
the devices up and creates the strategy. Everything a run builds for training
(classifier, optimizer, metrics) is built in `Distribution.scope()`; the
training batches come from `pipeline.distributed_training_dataset`, which gives
each replica its share of every global batch.

In a cluster, every worker runs the same `bertclf train` command: all of them
train, and only the chief writes the run folder. The others write their
checkpoints to temporary folders and delete them (the multi-worker checkpoint
pattern TensorFlow documents) and stop once training ends; the chief scores,
exports and publishes the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any, Mapping, Optional

from bertclf.errors import ConfigError
from bertclf.runtime.hardware import Cluster, Hardware, choose_distribution, parse_cluster


@dataclasses.dataclass
class Distribution:
    """The strategy a run trains under and this process's part in it.

    Attributes:
        strategy: The `tf.distribute.Strategy` (TensorFlow's default one for `none`).
        name: `none`, `mirrored`, `multi_worker` or `tpu`.
        reason: Why `runtime.distribution` resolved to `name`.
        cluster: The cluster from TF_CONFIG, or None on one machine.
    """

    strategy: Any
    name: str
    reason: str
    cluster: Optional[Cluster] = None

    @property
    def replicas(self) -> int:
        """Replicas that each take a share of every global batch."""
        return int(self.strategy.num_replicas_in_sync)

    @property
    def workers(self) -> int:
        return self.cluster.workers if self.cluster is not None and self.name == "multi_worker" else 1

    @property
    def is_chief(self) -> bool:
        """Whether this process writes the run folder."""
        return self.name != "multi_worker" or self.cluster is None or self.cluster.is_chief

    @property
    def distributed(self) -> bool:
        """Whether variables are distributed values (anything but TensorFlow's default strategy)."""
        return self.name != "none"

    def scope(self):
        """Where the classifier, optimizer and metrics must be built."""
        return self.strategy.scope() if self.distributed else contextlib.nullcontext()

    def describe(self) -> str:
        """E.g. `strategy multi_worker (2 replicas on 2 workers; TF_CONFIG names 2 workers)`."""
        placement = f"{self.replicas} replica{'s' if self.replicas != 1 else ''}"
        if self.workers > 1:
            role = self.cluster.task_type if self.cluster else "worker"
            placement += f" on {self.workers} workers; this is {role} {self.cluster.task_index}"
        return f"strategy {self.name} ({placement}; {self.reason})"


def start_distribution(tf, hardware: Hardware, requested: str, cpu_devices: int = 1,
                       environ: Optional[Mapping[str, str]] = None) -> Distribution:
    """Decides the strategy, prepares the devices and creates the strategy.

    Call before TensorFlow runs anything: logical CPU devices and GPU memory
    growth can only be set up before its runtime starts, and the multi-worker
    strategy must be created first.

    Raises:
        ConfigError: TF_CONFIG is malformed, `multi_worker` without a cluster,
            or `tpu` where no TPU can be reached.
    """
    environ = os.environ if environ is None else environ
    cluster = parse_cluster(environ.get("TF_CONFIG"))
    choice = choose_distribution(requested, hardware, cluster, cpu_devices)
    _prepare_devices(tf, cpu_devices)
    strategy = _create_strategy(tf, choice.strategy, bool(hardware.gpu_capabilities), environ)
    return Distribution(strategy, choice.strategy, choice.reason,
                        cluster if choice.strategy == "multi_worker" else None)


def _prepare_devices(tf, cpu_devices: int) -> None:
    # Memory growth: a run takes GPU memory as it needs it, so two runs can share a GPU.
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # already initialised in this process (tests); the first setting stands
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
        except RuntimeError:
            found = len(tf.config.list_logical_devices("CPU"))
            if found != cpu_devices:
                raise RuntimeError(f"runtime.cpu_devices={cpu_devices}, but TensorFlow already started "
                                   f"in this process with {found}; set it in a new process") from None


def _create_strategy(tf, name: str, has_gpus: bool, environ: Mapping[str, str]):
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # Without GPUs, MirroredStrategy would take the one CPU device; the logical ones
        # (runtime.cpu_devices) are named explicitly.
        devices = None if has_gpus else [device.name for device in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=environ.get("TPU_NAME", ""))
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as error:
            raise ConfigError(f"runtime.distribution: tpu, but no TPU could be reached ({error}); set TPU_NAME "
                              f"or use runtime.distribution: auto") from None
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name}")
