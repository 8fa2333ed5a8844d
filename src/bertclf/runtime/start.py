"""The runtime a run trains with: devices, distribution strategy, precision and XLA, decided once."""

from __future__ import annotations

import dataclasses
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bertclf.config import Config


@dataclasses.dataclass
class Runtime:
    """The TensorFlow module and what the run computes in, on which devices, how."""

    tf: Any
    hardware: Any
    distribution: Any
    precision: Any
    jit_compile: bool
    jit_reason: str

    def describe(self) -> str:
        """The one line a run prints at its start."""
        return (f"Runtime: {self.hardware.describe()}; {self.distribution.describe()}; precision "
                f"{self.precision.precision} ({self.precision.reason}); XLA {'on' if self.jit_compile else 'off'} "
                f"({self.jit_reason})")

    def record(self) -> dict:
        """metrics.json's `runtime`."""
        return {"device": self.hardware.describe(), "strategy": self.distribution.name,
                "strategy_reason": self.distribution.reason, "replicas": self.distribution.replicas,
                "workers": self.distribution.workers, "precision": self.precision.precision,
                "precision_reason": self.precision.reason, "jit_compile": self.jit_compile,
                "jit_compile_reason": self.jit_reason}


def start_runtime(config: "Config") -> Runtime:
    """Seeds TensorFlow, creates the distribution strategy, applies the precision and XLA setting.

    Every `auto` is decided here, once, and printed in one line.

    Raises:
        ConfigError: A distribution this machine or TF_CONFIG cannot provide.
    """
    from bertclf.runtime.distribution import start_distribution
    from bertclf.runtime.hardware import choose_jit_compile, probe_hardware
    from bertclf.runtime.precision import apply_precision
    from bertclf.runtime.tf_setup import absorb_first_run_notices, setup_tensorflow

    tf = setup_tensorflow(config.runtime, config.experiment.seed)
    hardware = probe_hardware(tf)
    distribution = start_distribution(tf, hardware, config.runtime.distribution, config.runtime.cpu_devices)
    precision = apply_precision(hardware, config.runtime.precision)
    jit_compile, jit_reason = choose_jit_compile(config.runtime.jit_compile, hardware, distribution.name)
    runtime = Runtime(tf, hardware, distribution, precision, jit_compile, jit_reason)
    absorb_first_run_notices(tf)  # threads and devices are set: the runtime may start
    print(runtime.describe(), file=sys.stderr, flush=True)
    return runtime
