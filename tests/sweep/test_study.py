"""Opening a sweep's study: storages, samplers, pruners and the recorded definition (Optuna, no TensorFlow)."""

from __future__ import annotations

import pytest

from bertclf.errors import ConfigError
from bertclf.sweep import study as studies
from bertclf.sweep.space import Dimension

RATES = Dimension("train.learning_rate", "choice", choices=(1e-5, 3e-5, 1e-4))
LENGTHS = Dimension("model.seq_length", "choice", choices=(128, 256))
DEFINITION = {"base_config": {"model": {"encoder": "tiny", "seq_length": 32}, "data": {"path": "/a/data"}},
              "space": [RATES.describe()], "monitor": "val_loss", "direction": "minimize"}


def _study(storage, name="s"):
    import optuna

    return optuna.create_study(study_name=name, storage=storage, load_if_exists=True)


@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_a_local_storage_is_shared_by_reopening_and_holds_the_definition(tmp_path, scheme):
    url = f"sqlite:///{tmp_path}/new/study.db" if scheme == "sqlite" else f"journal:{tmp_path}/new/study.log"
    first = _study(studies.open_storage(url))  # the folder is made on first use
    assert studies.record_definition(first, DEFINITION) == []
    first.enqueue_trial({"train.learning_rate": 3e-5})

    # A second process opens the same URL: it sees the trial and the definition.
    second = _study(studies.open_storage(url))
    assert len(second.trials) == 1
    other_machine = {**DEFINITION, "base_config": {**DEFINITION["base_config"], "data": {"path": "/b/data"}}}
    assert studies.record_definition(second, other_machine) == ["data.path"]
    for changed, what in (({"monitor": "val_accuracy"}, "train.monitor"),
                          ({"space": [LENGTHS.describe()]}, "space")):
        with pytest.raises(ConfigError, match=f"--study s: this study was started with another {what}"):
            studies.record_definition(second, {**DEFINITION, **changed})
    assert studies.storage_lock_file(url).name == ("study.db.claims.lock" if scheme == "sqlite"
                                                   else "study.log.claims.lock")


def test_storages_that_cannot_be_opened_are_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    cases = [
        ("runs/study.db", "expected a database URL (sqlite:///PATH, postgresql://"),
        (f"sqlite:///{tmp_path}/a-file/study.db", f"cannot create its folder {tmp_path}/a-file"),
        (f"journal:{tmp_path}/a-file/study.log", f"cannot create its folder {tmp_path}/a-file"),
        # No database drivers in the lock: the message names the package, never the password.
        ("postgresql://me:secret@127.0.0.1:9/db", "--storage postgresql://me:***@127.0.0.1:9/db: its database "
                                                  "driver (psycopg) is not installed; pip install 'psycopg[binary]'"),
        ("postgresql+psycopg2://me:secret@h/db", "driver (psycopg2) is not installed; pip install psycopg2-binary"),
        ("mysql+pymysql://me:secret@h/db", "driver (pymysql) is not installed; pip install pymysql"),
    ]
    for url, message in cases:
        with pytest.raises(ConfigError) as caught:
            studies.open_storage(url)
        text = str(caught.value)
        assert message in text and "\n" not in text and "secret" not in text, text


def test_only_local_storages_have_a_claiming_lock():
    assert studies.storage_lock_file("postgresql://h/db") is None
    assert studies.storage_lock_file("sqlite:///:memory:") is None
    assert str(studies.storage_lock_file("sqlite:////srv/s/study.db")) == "/srv/s/study.db.claims.lock"
    # Not the journal's own lock (a symlink): holding that, each journal write bertclf made under
    # its claiming lock waited out Optuna's 30-second grace period.
    from optuna.storages.journal._file import LOCK_FILE_SUFFIX

    assert str(studies.storage_lock_file("journal:/srv/s/j.log")) == "/srv/s/j.log.claims.lock"
    assert studies.storage_lock_file("journal:/srv/s/j.log").name != "j.log" + LOCK_FILE_SUFFIX


def test_a_grid_is_visited_whole_in_an_order_fixed_by_the_seed():
    import optuna

    def order(seed: int) -> list[tuple]:
        study = optuna.create_study(sampler=studies.make_sampler("grid", [RATES, LENGTHS], seed))
        points = []
        for _ in range(studies.grid_size([RATES, LENGTHS])):
            trial = study.ask(studies.distributions([RATES, LENGTHS]))
            points.append((trial.params["train.learning_rate"], trial.params["model.seq_length"]))
            study.tell(trial, 0.5)  # bertclf's loop counts trials; the grid must not stop the study
        return points

    assert studies.grid_size([RATES, LENGTHS]) == 6
    first = order(7)
    assert sorted(first) == sorted((rate, length) for rate in RATES.choices for length in LENGTHS.choices)
    assert order(7) == first
    assert len({tuple(order(seed)) for seed in range(5)}) > 1  # the seed, not a fixed order, decides


def test_pruners_and_samplers_by_name():
    import optuna

    median = studies.make_pruner("median", max_epochs=3)
    assert isinstance(median, optuna.pruners.MedianPruner) and median._n_startup_trials == 2
    hyperband = studies.make_pruner("hyperband", max_epochs=4)
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert (hyperband._min_resource, hyperband._max_resource) == (1, 4)  # one resource unit is one epoch
    assert isinstance(studies.make_pruner("none", 3), optuna.pruners.NopPruner)
    assert isinstance(studies.make_sampler("tpe", [RATES], None), optuna.samplers.TPESampler)
    for make, name in ((studies.make_pruner, "asha"), (studies.make_sampler, "cmaes")):
        with pytest.raises(ConfigError, match=f"choose one of"):
            make(name, 3) if make is studies.make_pruner else make(name, [RATES], None)
    with pytest.raises(ConfigError, match="train.learning_rate: a grid search needs a finite list"):
        studies.make_sampler("grid", [Dimension("train.learning_rate", "log_uniform", 1e-5, 1e-4)], 1)


def test_study_names_must_make_folder_names():
    assert studies.check_study_name("imdb_small-4m.v2") == "imdb_small-4m.v2"
    for bad in ("../up", "a b", "", "-x"):
        with pytest.raises(ConfigError, match="use letters, digits"):
            studies.check_study_name(bad)


def test_a_trial_is_pruned_between_epochs_never_after_its_last():
    import optuna

    from bertclf.sweep.trial import prune_now

    class Always(optuna.pruners.BasePruner):
        def prune(self, study, trial) -> bool:
            return True

    trial = optuna.create_study(pruner=Always()).ask()
    trial.report(0.7, 1)
    assert prune_now(trial, 1, 3)
    trial.report(0.6, 3)
    assert not prune_now(trial, 3, 3)
    never = optuna.create_study(pruner=optuna.pruners.NopPruner()).ask()
    never.report(0.7, 1)
    assert not prune_now(never, 1, 3)


def test_a_trial_claimed_beyond_the_count_on_a_server_is_handed_back(tmp_path, monkeypatch):
    """Two machines on a database server can both see room for the last trial and both ask:
    the one whose trial is numbered later gives it back (failed, marked surplus) unused."""
    import optuna

    from bertclf.sweep import results, runner, sharing

    storage = f"sqlite:///{tmp_path}/study.db"
    study = optuna.create_study(study_name="race", storage=storage)
    other = study.ask()  # the other machine's claim, made a moment before ours
    other.set_user_attr("host", "elsewhere")
    # This process counted before the other's trial existed; it has no lock file (a server).
    monkeypatch.setattr(sharing, "counts", lambda study: (0, 0))
    monkeypatch.setattr(studies, "storage_lock_file", lambda storage: None)
    monkeypatch.setattr(sharing, "fail_dead_trials", lambda study: None)
    setup = runner._Setup(study=study, storage=storage, sweep_dir=tmp_path, dimensions=[RATES],
                          make_config=None, monitor="val_loss", direction="minimize", target=1)
    trial, _, _ = runner._claim(setup)
    assert trial is None
    mine = study.trials[1]
    assert mine.state == optuna.trial.TrialState.FAIL and mine.user_attrs["surplus"]
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING  # the other machine's, untouched
    assert [row["trial"] for row in results.summarise(study)["trials"]] == [0]  # not in the table


@pytest.mark.parametrize("scheme", ["sqlite", "journal"])
def test_a_sweep_opens_a_storage_in_a_folder_that_does_not_exist_yet(tmp_path, scheme):
    """The claiming lock sits beside the storage, so its folder must exist before the lock is taken."""
    from bertclf.sweep import runner
    from conftest import write_config

    config = write_config(tmp_path / "config.yaml", """
experiment: {name: folders, output_dir: runs}
data: {path: data}
model: {encoder: tiny, seq_length: 32}
train: {epochs: 2}
""")
    space = write_config(tmp_path / "space.yaml", "train.learning_rate: {choice: [1.0e-4, 3.0e-4]}\n")
    url = f"sqlite:///{tmp_path}/shared/new/s.db" if scheme == "sqlite" else f"journal:{tmp_path}/shared/new/s.log"
    setup = runner._prepare(config, space, [], runner.SweepOptions(trials=2, storage=url, sampler="grid"))
    assert setup.study.study_name == "folders" and setup.target == 2
    assert studies.storage_lock_file(url).parent.is_dir()


def test_a_dead_trial_without_a_folder_is_failed_and_nothing_is_written_in_the_cwd(tmp_path, monkeypatch):
    import socket
    import subprocess
    import sys

    import optuna

    from bertclf.sweep import sharing

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db")
    trial = study.ask()  # claimed, then its process died before training named a folder
    trial.set_user_attr("host", socket.gethostname())
    trial.set_user_attr("pid", gone.pid)
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text("mine\n")
    (work / "trial.json").write_text("{}")
    monkeypatch.chdir(work)
    sharing.fail_dead_trials(study)
    assert study.trials[0].state == optuna.trial.TrialState.FAIL
    assert (work / "trial.json").read_text() == "{}"
