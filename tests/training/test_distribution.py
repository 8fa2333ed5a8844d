"""tf.distribute on this CPU: MirroredStrategy over 2 logical devices, MultiWorkerMirroredStrategy
over two processes on 127.0.0.1, each run as a user runs it (`bertclf train ... --set`).

The reference is `uninterrupted`: the same dropout-free float32 config on one device. With
the same seed and global batch, a replicated run sees the same global batches, and the
optimizer clips the summed gradient, so every epoch must match it.
"""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest

from bertclf import artifacts
from bertclf.training import checkpoints
from conftest import RESUMABLE_EPOCHS as EPOCHS, finished_run, start_train

pytestmark = pytest.mark.slow

# Measured: float32 losses and validation scores of 2 replicas equal one device's to ~1e-7.
# Summing per-replica gradients in another order is the only difference allowed.
TOLERANCE = dict(rel=1e-4, abs=1e-6)


def _assert_same_training(got: tuple[dict, dict], expected: tuple[dict, dict]) -> None:
    (metrics, history), (expected_metrics, expected_history) = got, expected
    assert set(history) == set(expected_history)
    for key, values in expected_history.items():
        assert len(history[key]) == EPOCHS and history[key] == pytest.approx(values, **TOLERANCE), key
    assert metrics["optimizer_steps"] == expected_metrics["optimizer_steps"] == EPOCHS * 100
    assert metrics["best_epoch"] == expected_metrics["best_epoch"]
    assert metrics["validation"]["loss"] == pytest.approx(expected_metrics["validation"]["loss"], **TOLERANCE)


def _until_epoch_two(process) -> str:
    """Everything `process` prints until Keras announces epoch 2 (after epoch 1's checkpoint)."""
    printed = []
    for line in process.stdout:
        printed.append(line)
        if line.startswith(f"Epoch 2/{EPOCHS}"):
            return "".join(printed)
    pytest.fail("the run ended before epoch 2:\n" + "".join(printed)[-3000:])


def test_mirrored_over_two_cpu_devices_trains_and_resumes_like_one_device(resume_config, uninterrupted):
    # Killed in epoch 2 and resumed (the run's config keeps the strategy): checkpoints of
    # mirrored variables restore, and the whole run still matches the one-device run.
    run_dir = resume_config.parent / "runs" / "mirrored"
    process = start_train(str(resume_config), "--run-dir", str(run_dir), "--set", "runtime.distribution=mirrored",
                          "--set", "runtime.cpu_devices=2")
    printed = _until_epoch_two(process)
    assert "strategy mirrored (2 replicas; set in runtime.distribution; 2 logical CPU devices)" in printed
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    resumed = start_train("--resume", str(run_dir))
    printed, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, printed[-3000:]
    assert "Resuming after epoch 1 (optimizer step 100)" in printed and "strategy mirrored (2 replicas" in printed
    got = finished_run(run_dir)
    _assert_same_training(got, uninterrupted)
    runtime = got[0]["runtime"]
    assert (runtime["strategy"], runtime["replicas"], runtime["workers"]) == ("mirrored", 2, 1)
    assert got[0]["batch_size"] == 4  # the global batch: 2 examples per replica
    assert got[0]["export_check"]["texts"] > 0  # (a difference beyond tolerance fails training itself)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _start_workers(*args: str, temp_dir: Path | None = None) -> list:
    """One `bertclf train ARGS --set runtime.distribution=multi_worker` per worker, TF_CONFIG each
    (and TMPDIR `temp_dir`, if given)."""
    hosts = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    workers = []
    for index in range(2):
        tf_config = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}})
        workers.append(start_train(*args, "--set", "runtime.distribution=multi_worker",
                                   env={"TF_CONFIG": tf_config, **({"TMPDIR": str(temp_dir)} if temp_dir else {})}))
    return workers


def _scratch_folders(temp_dir: Path) -> list[Path]:
    return list(temp_dir.glob(f"{checkpoints.SCRATCH_PREFIX}*"))


def _wait(workers: list, timeout: float = 600) -> list[str]:
    return [process.communicate(timeout=timeout)[0] for process in workers]


@pytest.fixture(scope="module")
def output_dir(resume_config) -> Path:
    return resume_config.parent / "multi-worker-runs"


def test_two_workers_train_like_one_process_survive_a_killed_worker_and_only_the_chief_writes(
        resume_config, uninterrupted, output_dir):
    """Two workers run epoch 1; one is SIGKILLed in epoch 2; both resume. Every epoch, the
    steps and the best epoch equal the one-process run's, and only the chief wrote."""
    output = output_dir / "killed"
    # The workers' temporary folder: the killed worker's scratch checkpoints stay in it until the
    # next worker on the host removes them.
    scratch = output_dir / "tmp"
    scratch.mkdir(parents=True)
    workers = _start_workers(str(resume_config), "--set", f"experiment.output_dir={output}", temp_dir=scratch)
    chief, other = workers
    printed = _until_epoch_two(chief)
    assert "strategy multi_worker (2 replicas on 2 workers; this is worker 0" in printed
    other.send_signal(signal.SIGKILL)
    other.communicate(timeout=60)
    assert _scratch_folders(scratch), "the killed worker had a scratch folder"
    # The chief finds its peer gone (TensorFlow's cluster health check) and stops with one line.
    rest, _ = chief.communicate(timeout=300)
    printed += rest
    (run_dir,) = [path for path in output.iterdir() if path.is_dir()]  # one run folder: the chief's
    assert chief.returncode == 1, printed[-3000:]
    assert f"epoch 1 is saved. Resume with: bertclf train --resume {run_dir} on every worker" in printed
    assert "Traceback" not in printed

    resumed = _start_workers("--resume", str(run_dir), temp_dir=scratch)
    outputs = _wait(resumed)
    assert [process.returncode for process in resumed] == [0, 0], "\n".join(outputs)[-4000:]
    assert _scratch_folders(scratch) == []  # neither the killed worker's nor the resumed one's
    assert all("Resuming after epoch 1 (optimizer step 100)" in text for text in outputs)
    assert "this worker's part; the chief writes the run folder" in outputs[1]
    assert [path for path in output.iterdir() if path.is_dir()] == [run_dir]
    assert not (run_dir / artifacts.CHECKPOINT_DIR).exists()
    got = finished_run(run_dir)
    _assert_same_training(got, uninterrupted)
    runtime = got[0]["runtime"]
    assert (runtime["strategy"], runtime["replicas"], runtime["workers"]) == ("multi_worker", 2, 2)
