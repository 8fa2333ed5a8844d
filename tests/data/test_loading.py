"""Reading class folders, splitting, sampling, archives and the mirror."""

from __future__ import annotations

import io
import random
import tarfile

import pytest

from bertclf.archive import extract_safely, fetch_archive
from bertclf.config import DataConfig
from bertclf.data import load_data, partition, stratified_sample
from bertclf.data.readers import read_folder
from bertclf.errors import DataError
from conftest import make_dataset_tree, synthetic_texts, tar_bytes, write_class_folders


def test_class_folders_sorted_and_skips_counted(tmp_path):
    root = write_class_folders(tmp_path / "train", {"pos": ["good", "fine"], "neg": ["bad"], "b_mid": ["meh"]})
    (root / "neg" / "empty.txt").write_text("   \n", encoding="utf-8")
    (root / "neg" / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (root / "neg" / "notes.md").write_text("not an example", encoding="utf-8")
    data = load_data(DataConfig(path=str(tmp_path), validation_split=0.5), seed=0)
    assert data.class_names == ["b_mid", "neg", "pos"]
    both = sorted(zip(data.train.labels + data.validation.labels, data.train.texts + data.validation.texts))
    assert both == [(0, "meh"), (1, "bad"), (2, "fine"), (2, "good")]
    assert data.report["splits"]["train"]["skipped"] == {"empty_text": 1, "not_utf8": 1}
    assert data.report["splits"]["train"]["rows_read"] == 6


@pytest.mark.parametrize("layout, message", [
    (None, "no such folder"),
    ({}, "no class subfolders"),
    ({"pos": ["x"]}, "only one class"),
    ({"pos": [""], "neg": [" "]}, "no usable examples"),
])
def test_bad_folders_are_explained(tmp_path, layout, message):
    folder = tmp_path / "train"
    if layout is not None:
        folder.mkdir()
        write_class_folders(folder, layout)
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(path=str(tmp_path)), seed=0)


def test_classes_option_selects_and_checks_folders(tmp_path):
    root = write_class_folders(tmp_path, {"pos": ["a"], "neg": ["b"], "unsup": ["c"]})
    assert sorted({row.label for row in read_folder(root, ["pos", "neg"]).rows}) == ["neg", "pos"]
    with pytest.raises(DataError, match="no class folder 'neutral'"):
        read_folder(root, ["pos", "neutral"])


def test_validation_split_is_stratified_disjoint_and_seeded(tmp_path):
    root = make_dataset_tree(tmp_path, train=50, test=5)
    for path in (root / "train").rglob("*.txt"):  # unique texts, so disjointness is checkable
        path.write_text(f"{path.parent.name} {path.stem}", encoding="utf-8")
    config = DataConfig(path=str(root), validation_split=0.2)
    first, again, other = load_data(config, seed=1), load_data(config, seed=1), load_data(config, seed=2)
    assert len(first.validation) == 20 and len(first.train) == 80
    assert sorted(first.validation.labels) == [0] * 10 + [1] * 10
    assert not set(first.validation.texts) & set(first.train.texts)
    assert len(set(first.validation.texts + first.train.texts)) == 100
    assert first.validation.texts == again.validation.texts and first.train.texts == again.train.texts
    assert first.validation.texts != other.validation.texts
    assert first.report["splits"]["train"]["label_counts"] == {"neg": 40, "pos": 40}
    assert first.report["splits"]["test"]["examples"] == 10


def test_partition_indices_are_disjoint_and_complete():
    labels = [0] * 30 + [1] * 7 + [2] * 2
    held, rest = partition(labels, 0.25, random.Random(0))
    assert sorted(held + rest) == list(range(len(labels)))
    assert {labels[i] for i in held} == {0, 1, 2} and {labels[i] for i in rest} == {0, 1, 2}


def test_sample_keeps_proportions():
    labels = [0] * 90 + [1] * 10
    chosen = stratified_sample(labels, 20, random.Random(0))
    assert len(chosen) == len(set(chosen)) == 20
    assert sum(labels[i] for i in chosen) == 2


def test_max_examples_cut_train_validation_and_test(tmp_path):
    root = make_dataset_tree(tmp_path, train=50, test=30)
    data = load_data(DataConfig(path=str(root), max_train_examples=10, max_eval_examples=6), seed=0)
    assert (len(data.train), len(data.validation), len(data.test)) == (10, 6, 6)
    assert sorted(data.train.labels) == [0] * 5 + [1] * 5


def test_class_sample_thins_a_class_in_every_split(tmp_path):
    root = make_dataset_tree(tmp_path, train=50, test=40)
    config = dict(path=str(root), validation_split=0.2, stratify=True)
    full = load_data(DataConfig(**config), seed=0)
    thinned = load_data(DataConfig(**config, class_sample={"pos": 0.1}), seed=0)
    # Train: 50 pos -> 5, then 1 of them (20%, stratified) held out for validation.
    assert thinned.train.labels.count(1) + thinned.validation.labels.count(1) == 5
    assert thinned.train.labels.count(0) == full.train.labels.count(0)
    assert (thinned.test.labels.count(0), thinned.test.labels.count(1)) == (40, 4)
    assert set(thinned.test.texts) <= set(full.test.texts)
    assert thinned.report["class_sample"] == {"pos": 0.1}
    again = load_data(DataConfig(**config, class_sample={"pos": 0.1}), seed=0)
    assert again.train.texts == thinned.train.texts  # seeded
    with pytest.raises(DataError, match=r"data.class_sample: no class 'positive'; the classes are \['neg', 'pos'\]"):
        load_data(DataConfig(**config, class_sample={"positive": 0.1}), seed=0)


def test_test_folder_with_unknown_class_is_an_error(tmp_path):
    root = make_dataset_tree(tmp_path)
    write_class_folders(root / "test", {"neutral": ["x"]})
    with pytest.raises(DataError, match=r"neutral/0.txt: label 'neutral' is not among the training labels"):
        load_data(DataConfig(path=str(root)), seed=0)


def test_mirror_supplies_the_archive_without_network(tmp_path, monkeypatch):
    members = {f"toy/train/{c}/{i}.txt": t for c in ("neg", "pos")
               for i, t in enumerate(synthetic_texts(c, 6))}
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "toy_v1.tar.gz").write_bytes(tar_bytes(members))
    monkeypatch.setenv("BERTCLF_DATA_MIRROR", str(tmp_path / "mirror"))
    from bertclf import archive

    unpacked = []
    real_extract = archive.extract_safely
    monkeypatch.setattr(archive, "extract_safely",
                        lambda source, destination: (unpacked.append(source), real_extract(source, destination)))
    # The host does not exist: any network attempt would fail the test.
    config = DataConfig(archive_url="https://unreachable.invalid/data/toy_v1.tar.gz", archive_subdir="toy")
    data = load_data(config, seed=0)
    assert data.class_names == ["neg", "pos"] and len(data.train) + len(data.validation) == 12
    folder = fetch_archive(config.archive_url)
    assert fetch_archive(config.archive_url) == folder and (folder / "toy" / "train" / "pos").is_dir()
    assert [source.name for source in unpacked] == ["toy_v1.tar.gz"]  # three uses, one unpacking


def test_mirror_without_the_file_names_it(tmp_path, monkeypatch):
    monkeypatch.setenv("BERTCLF_DATA_MIRROR", str(tmp_path))
    with pytest.raises(DataError, match="no toy_v2.tar.gz there"):
        fetch_archive("https://unreachable.invalid/toy_v2.tar.gz")


@pytest.mark.parametrize("evil", ["../escape.txt", "/absolute-escape.txt", "ok/../../escape.txt"])
def test_archive_members_escaping_the_target_are_refused(tmp_path, evil):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_bytes({"fine/a.txt": "a", evil: "pwned"}))
    target = tmp_path / "cache" / "unpacked"
    with pytest.raises(DataError, match="refusing member"):
        extract_safely(archive, target)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "cache" / "escape.txt").exists()
    assert not list(target.rglob("*.txt"))  # nothing at all was unpacked


def test_archive_symlink_pointing_outside_is_refused(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as bundle:
        link = tarfile.TarInfo("data/link")
        link.type, link.linkname = tarfile.SYMTYPE, "../../outside"
        bundle.addfile(link)
    archive = tmp_path / "link.tar.gz"
    archive.write_bytes(buffer.getvalue())
    with pytest.raises(DataError, match="refusing link"):
        extract_safely(archive, tmp_path / "target")


def test_a_named_test_dir_that_does_not_exist_is_an_error_the_default_is_optional(tmp_path):
    make_dataset_tree(tmp_path / "data")
    with pytest.raises(DataError, match=r"data.test_dir: .*testing does not exist \(folders in .*: test, train\)"):
        load_data(DataConfig(path=str(tmp_path / "data"), test_dir="testing"), seed=0)
    (tmp_path / "no_test").mkdir()
    write_class_folders(tmp_path / "no_test" / "train", {c: synthetic_texts(c, 10) for c in ("neg", "pos")})
    assert load_data(DataConfig(path=str(tmp_path / "no_test")), seed=0).test is None


def test_label_names_must_name_labels_of_the_data(tmp_path):
    make_dataset_tree(tmp_path / "data")
    assert load_data(DataConfig(path=str(tmp_path / "data"), label_names={"pos": "positive"}),
                     seed=0).class_names == ["neg", "positive"]
    with pytest.raises(DataError, match=r"data.label_names: '1' match no label of .*\(its labels: 'neg', 'pos'\)"):
        load_data(DataConfig(path=str(tmp_path / "data"), label_names={"1": "positive"}), seed=0)
