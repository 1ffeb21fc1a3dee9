"""A small real study run through the module: its run, status, checkpoints and report, read back
and compared with what the devspec binary and the store say."""

from __future__ import annotations

import importlib
import json

import pytest
import safetensors.numpy

import devspec

from conftest import SMALL_TMS

SMALL_TMS_ONE_SEED = SMALL_TMS.replace("seed = sweep(0..2)", "seed = 0")

# 2 training runs, the LLC at each one's 3 checkpoints, 2 detections, 1 report.
INSTANCES = 2 + 6 + 2 + 1


def test_a_run_computes_every_instance_and_a_second_takes_them_from_the_store(tms):
    project, study, summary = tms
    assert (summary.computed, summary.cached, summary.failed) == (INSTANCES, 0, {})
    assert summary.returncode == 0
    assert "report:" in summary.stdout
    again = study.run(quiet=True)
    assert (again.computed, again.cached) == (0, INSTANCES)


def test_status_says_what_devspec_status_says(tms):
    project, study, _ = tms
    frame = study.status()
    shown = project.devspec("status", "study.dev", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    expected = {i["name"]: i["status"] for i in json.loads(shown.stdout)["instances"]}
    assert dict(zip(frame["instance"], frame["status"])) == expected
    assert len(frame) == INSTANCES and set(frame["status"]) == {"cached"}
    llc = frame[frame["step"] == "llc"]
    assert sorted(llc["checkpoint"].tolist()) == [10, 10, 100, 100, 300, 300]
    assert sorted(llc["seed"].tolist()) == [0, 0, 0, 1, 1, 1]
    assert set(frame["kind"]) == {"train", "estimate", "detect", "report"}


def test_every_checkpoint_tensor_equals_the_stored_bytes(tms):
    _, study, _ = tms
    stored = study.checkpoints("run")
    assert sorted(zip(stored["seed"], stored["step"])) == [
        (seed, step) for seed in (0, 1) for step in (10, 100, 300)
    ]
    for row in stored.itertuples():
        tensors = study.checkpoint("run", seed=row.seed, step=row.step, backend="numpy")
        # The store's blob, parsed by the safetensors package: the same names, types, shapes
        # and bytes.
        expected = safetensors.numpy.load_file(row.path)
        assert sorted(tensors) == sorted(expected) == ["W", "b"]
        for name, array in expected.items():
            assert tensors[name].dtype == array.dtype and tensors[name].shape == array.shape
            assert tensors[name].tobytes() == array.tobytes(), f"{row.instance} {name}"
            assert tensors[name].flags.writeable
    last = study.checkpoint("run", seed=1, backend="numpy")
    at_300 = study.checkpoint("run", seed=1, step=300, backend="numpy")
    assert last["W"].tobytes() == at_300["W"].tobytes(), "the last checkpoint by default"


def test_devspec_checkout_lays_out_files_the_safetensors_package_reads(tms):
    project, study, _ = tms
    done = project.devspec("checkout", "study.dev", "run", "-o", "out")
    assert done.returncode == 0, done.stderr
    index = json.loads((project.root / "out" / "index.json").read_text())
    stored = study.checkpoints("run")
    assert sorted(f["digest"] for f in index["files"]) == sorted(stored["digest"])
    for entry in index["files"]:
        path = project.root / "out" / entry["path"]
        tensors = study.checkpoint("run", seed=int(entry["coords"]["seed"]),
                                   step=entry["training_step"], backend="numpy")
        loaded = safetensors.numpy.load_file(str(path))
        assert {n: a.tobytes() for n, a in loaded.items()} == {
            n: a.tobytes() for n, a in tensors.items()
        }, entry["path"]
        # What the issue asks of a checked-out file: `safetensors.torch.load_file` reads it.
        try:
            load_with_torch = importlib.import_module("safetensors.torch").load_file
        except ImportError:  # no torch here (make test); make python-test-torch has it
            continue
        by_torch = load_with_torch(str(path))
        assert {n: t.numpy().tobytes() for n, t in by_torch.items()} == {
            n: a.tobytes() for n, a in loaded.items()
        }, entry["path"]


def test_a_checkpoint_asked_for_ambiguously_or_not_stored_is_a_clear_error(tms):
    _, study, _ = tms
    with pytest.raises(devspec.Error, match=r"2 instances of `run` match") as ambiguous:
        study.checkpoint("run", step=10)
    assert "seed=0" in ambiguous.value.hint
    # The library's refusals (ops::checkout), with what there is in their hints.
    with pytest.raises(devspec.Error, match="keeps no checkpoint at training step 50") as at:
        study.checkpoint("run", seed=0, step=50)
    assert at.value.hint == "its checkpoints are at training steps 10, 100, 300"
    with pytest.raises(devspec.Error, match="step `run` has no axis `lr`") as axis:
        study.checkpoint("run", lr=0.1)
    assert axis.value.hint == "its axes are `seed`"
    with pytest.raises(devspec.Error, match="step `run` has no instance at seed=5") as point:
        study.checkpoint("run", seed=5)
    assert point.value.hint == "its points are seed=0; seed=1"
    with pytest.raises(devspec.Error, match="`llc` is an estimate step") as estimate:
        study.checkpoint("llc", seed=0)
    assert "`run`" in estimate.value.hint
    with pytest.raises(devspec.Error, match="the spec has no step `runs`"):
        study.checkpoint("runs", seed=0)
    with pytest.raises(devspec.Error, match="the spec has no step `runs`") as unknown:
        study.table("runs")
    # Each step named once, though the plan interleaves their instances.
    assert unknown.value.hint == "the spec's steps: run, llc, stages, summary"


def test_a_checkpoint_not_run_yet_is_a_missing_result(make_project):
    project = make_project(SMALL_TMS_ONE_SEED)
    with pytest.raises(devspec.MissingResult, match=r"run has no stored checkpoints yet"):
        project.study().checkpoint("run", step=10)


def test_the_report_is_drawn_in_process(tms):
    project, study, _ = tms
    pages = study.report(out=project.root / "drawn")
    assert pages == [project.root / "drawn" / "summary" / "report.html"]
    assert "small" in pages[0].read_text()


def test_a_spec_with_an_error_raises_spec_error_with_its_line_and_the_cli_text(make_project):
    project = make_project("import std.tms\n\ntrain run {\n  steps = 10\n  optimizer = sgd(lr = 0.1)\n  modle = 3\n}\n")
    with pytest.raises(devspec.SpecError) as raised:
        devspec.Study(project.spec)
    error = raised.value
    lines = {d.line for d in error.diagnostics}
    assert 6 in lines, [str(d) for d in error.diagnostics]
    misspelt = next(d for d in error.diagnostics if d.line == 6)
    assert (misspelt.column, misspelt.severity) == (3, "error")
    assert misspelt.hint and "model" in misspelt.hint
    # The same text as `devspec check` prints, for the same path.
    checked = project.devspec("check", str(project.spec))
    assert checked.returncode == 2
    assert str(error) == checked.stderr.rstrip("\n")
    # and the same fields as its JSON form.
    as_json = project.devspec("check", str(project.spec), "--format", "json")
    fields = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [(f["line"], f["column"], f["message"], f["hint"]) for f in fields] == [
        (d.line, d.column, d.message, d.hint) for d in error.diagnostics
    ]


def test_check_reads_the_spec_again(make_project):
    project = make_project("test a { value = 1 }\n")
    study = project.study()
    assert study.check() == []
    project.spec.write_text("test a { value = 1 }\ntest b { valeu = 2 }\n")
    with pytest.raises(devspec.SpecError) as raised:
        study.check()
    assert raised.value.line == 2
    project.spec.write_text("test a { value = 1 }\ntest b { value = 2 }\n")
    assert study.check() == []
    assert study.steps() == {"a": "test", "b": "test"}


def test_run_without_a_devspec_binary_says_how_to_get_one(make_project, monkeypatch):
    project = make_project("test a { value = 1 }\n")
    monkeypatch.delenv("DEVSPEC", raising=False)
    monkeypatch.setenv("PATH", str(project.root))
    with pytest.raises(devspec.DevspecNotFound, match="not on PATH") as raised:
        devspec.Study(project.spec).run()
    assert "make install" in raised.value.hint
    with pytest.raises(devspec.DevspecNotFound, match="nowhere/devspec, which is not"):
        devspec.Study(project.spec, devspec="/nowhere/devspec").run()


def test_a_failed_run_raises_run_error_with_the_failure(make_project):
    project = make_project("test a { value = 1 }\ntest b {\n  value = 2\n  fail = true\n}\n")
    with pytest.raises(devspec.RunError) as raised:
        project.study().run(quiet=True)
    error = raised.value
    assert error.returncode == 1
    assert "b" in str(error) and "1 computed" in str(error)


def test_sets_override_values_as_the_command_line_does(make_project):
    project = make_project("test a { value = 1 }\n")
    study = project.study(sets={"a.value": 7})
    assert study.sets == ["a.value=7"]
    with pytest.raises(devspec.SpecError, match="--set"):
        project.study(sets=["a.value"])


def test_progress_without_tqdm_is_a_line_per_event(make_project, capfd, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)  # as if not installed
    project = make_project("test a { value = 1 }\ntest b { value = 2 }\n")
    summary = project.study().run(jobs=1)
    said = capfd.readouterr().err
    assert "started a" in said and "finished b" in said, said
    assert (summary.computed, summary.cached) == (2, 0)


def test_status_before_a_first_run_says_what_will_run(make_project, monkeypatch):
    project = make_project("test a { value = 1 }\ntest b { value = 2 }\n")
    # The worker beside the devspec binary says what the keys will be.
    frame = project.study().status()
    assert frame["status"].tolist() == ["will run", "will run"]
    # With no binary and nothing stored, there is nothing to read, and the error says so.
    elsewhere = make_project("test a { value = 1 }\n", folder="elsewhere")
    monkeypatch.delenv("DEVSPEC", raising=False)
    monkeypatch.setenv("PATH", str(elsewhere.root))
    with pytest.raises(devspec.Error, match="holds no results yet") as raised:
        devspec.Study(elsewhere.spec).status()
    assert "run the study first" in raised.value.hint


def test_a_spec_that_cannot_be_read_is_an_error_not_a_spec_error(tmp_path):
    with pytest.raises(devspec.Error, match="cannot read") as raised:
        devspec.Study(tmp_path / "missing.dev")
    assert not isinstance(raised.value, devspec.SpecError)


def test_an_unbound_parameter_is_refused_naming_it_and_how_to_bind_it(make_project):
    project = make_project(
        'param width: integer "the hidden width"\ntest a { value = width }\n'
    )
    with pytest.raises(devspec.SpecError) as raised:
        devspec.Study(project.spec)
    error = raised.value
    assert error.line == 1
    assert "the parameter `width` (integer) is not bound: the hidden width" in str(error)
    assert "--bind width=8" in error.diagnostics[0].hint


def test_binds_fill_open_parameters_as_the_command_line_does(make_project):
    project = make_project('param width: integer "the hidden width"\ntest a { value = width }\n')
    study = project.study(binds={"width": 8})
    assert study.binds == ["width=8"]
    summary = study.run(quiet=True)
    assert (summary.computed, summary.failed) == (1, {})
    # The run bound it as `devspec run --bind width=8` does: the same key, so the command line
    # finds it cached, and the lock records the binding.
    shown = project.devspec("status", "study.dev", "--bind", "width=8")
    assert shown.returncode == 0, shown.stderr
    assert "cached" in shown.stdout and "will run" not in shown.stdout, shown.stdout
    lock = (project.root / "study.dev.lock").read_text()
    assert "[[binding]]" in lock and 'name = "width"' in lock, lock
    # A value of the wrong type is refused when the study is opened, as `--bind` refuses it.
    with pytest.raises(devspec.Error):
        project.study(binds=["width=wide"])
