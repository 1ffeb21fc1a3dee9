"""The module's tables against what the devspec binary says: ``show --format json``'s numbers,
and ``show --format parquet``'s file read by pandas."""

from __future__ import annotations

import math

import pandas as pd
import pyarrow as pa
import pytest

import devspec


def _same(value, expected) -> bool:
    """A table cell against a JSON value: equal, or both missing (null, NaN)."""
    missing = lambda v: v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
    if missing(expected) or missing(value):
        return missing(expected) and missing(value)
    return value == expected


@pytest.mark.parametrize("step", ["run", "llc", "stages"])
def test_the_wide_table_holds_show_jsons_values(tms, step):
    project, study, _ = tms
    frame = study.table(step)
    rows = project.show_json(step)
    assert frame["instance"].tolist() == [row["instance"] for row in rows]
    checked = 0
    for row, (_, cells) in zip(rows, frame.iterrows()):
        assert cells["status"] == row["status"] == "done"
        assert cells["seed"] == int(row["coords"]["seed"])
        assert _same(cells["checkpoint"], row["checkpoint"])
        for metric, value in row["metrics"].items():
            assert _same(cells[metric], value), f"{row['instance']} {metric}"
            checked += 1
        if "series" in row:
            for name, values in row["series"].items():
                assert list(cells[name]) == values, f"{row['instance']} {name}"
                checked += len(values)
    assert checked > len(rows), "every row has numbers to compare"


def test_series_gives_a_long_frame_of_a_train_steps_losses_and_an_estimates_metric(tms):
    project, study, _ = tms
    losses = study.series("run", "train_loss")
    assert list(losses.columns) == ["instance", "seed", "step", "value"]
    for row in project.show_json("run"):
        mine = losses[losses["instance"] == row["instance"]]
        assert mine["step"].tolist() == row["series"]["steps"]
        assert mine["value"].tolist() == row["series"]["train_loss"]
    llc = study.series("llc", "llc_mean")
    shown = {row["instance"]: row for row in project.show_json("llc")}
    assert len(llc) == len(shown) == 6
    for _, cells in llc.iterrows():
        assert cells["step"] == shown[cells["instance"]]["checkpoint"]
        assert cells["value"] == shown[cells["instance"]]["metrics"]["llc_mean"]
    with pytest.raises(devspec.Error, match="`run` has no series `llc_mean`") as raised:
        study.series("run", "llc_mean")
    assert "train_loss" in raised.value.hint


def test_polars_and_arrow_backends_hold_the_same_table(tms):
    _, study, _ = tms
    pandas_frame = study.table("llc")
    arrow = study.table("llc", backend="arrow")
    assert isinstance(arrow, pa.Table)
    assert arrow.schema.metadata[b"devspec.schema_version"] == b"1"
    assert arrow.schema.metadata[b"devspec.step"] == b"llc"
    polars = pytest.importorskip("polars", reason="polars is not installed")
    frame = study.table("llc", backend="polars")
    assert frame["llc_mean"].to_list() == pandas_frame["llc_mean"].tolist()
    assert frame.columns == list(pandas_frame.columns)


@pytest.mark.parametrize("step,long", [("llc", False), ("run", True), ("llc", True)])
def test_show_parquet_read_by_pandas_equals_the_modules_table(tms, step, long):
    project, study, _ = tms
    out = project.root / f"{step}-{'long' if long else 'wide'}.parquet"
    shown = project.devspec(
        "show", "study.dev", step, "--format", "parquet", "-o", str(out), *(["--long"] if long else [])
    )
    assert shown.returncode == 0, shown.stderr
    from_file = pd.read_parquet(out)
    mine = study.table(step, long=long)
    assert len(mine) > 0
    pd.testing.assert_frame_equal(from_file, mine)
