use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_schema::DataType;
use serde_json::json;

use super::column;

#[test]
fn coordinates_are_typed_by_what_every_value_parses_as() {
    let ints = column::typed_text(&[Some("0"), Some("12"), None]);
    assert_eq!(ints.data_type(), &DataType::Int64);
    assert_eq!(ints.as_primitive::<Int64Type>().value(1), 12);
    assert!(ints.is_null(2), "a missing coordinate is null");
    let floats = column::typed_text(&[Some("0.001"), Some("3")]);
    assert_eq!(floats.data_type(), &DataType::Float64);
    assert!((floats.as_primitive::<Float64Type>().value(0) - 0.001).abs() < f64::EPSILON);
    let flags = column::typed_text(&[Some("true"), Some("false")]);
    assert_eq!(flags.data_type(), &DataType::Boolean);
    let text = column::typed_text(&[Some("[2, 2]"), Some("3")]);
    assert_eq!(text.data_type(), &DataType::Utf8, "a list value keeps the column as text");
}

#[test]
fn metrics_are_typed_by_what_every_value_is_and_nulls_stay_null() {
    let (three, four, nan) = (json!(3), json!(4), json!(null));
    let whole = column::json_values(&[Some(&three), Some(&four), Some(&nan), None]);
    assert_eq!(whole.data_type(), &DataType::Int64);
    assert!(whole.is_null(2) && whole.is_null(3), "a stored NaN (null) and an absent metric");
    let half = json!(0.5);
    let numbers = column::json_values(&[Some(&three), Some(&half)]);
    assert_eq!(numbers.data_type(), &DataType::Float64, "whole and fractional mix as numbers");
    let (name, empty) = (json!("poor_mixing"), json!(""));
    assert_eq!(column::json_values(&[Some(&name), Some(&empty)]).data_type(), &DataType::Utf8);
    let names = json!(["diverged", "negative"]);
    let lists = column::json_values(&[Some(&names), None]);
    assert!(
        matches!(lists.data_type(), DataType::List(item) if item.data_type() == &DataType::Utf8)
    );
    let mixed = column::json_values(&[Some(&three), Some(&name)]);
    assert_eq!(mixed.data_type(), &DataType::Utf8, "mixed values are kept as their JSON text");
    assert_eq!(mixed.as_string::<i32>().value(0), "3");
}

#[test]
fn a_number_that_is_not_finite_is_null_in_lists() {
    let lists = column::float_list_lists([Some(vec![vec![1.0, f64::NAN]]), None]);
    let rows = lists.as_list::<i32>();
    assert!(rows.is_null(1));
    let chains = rows.value(0);
    let first = chains.as_list::<i32>().value(0);
    let chain = first.as_primitive::<Float64Type>();
    assert_eq!((chain.len(), chain.is_null(0), chain.is_null(1)), (2, false, true));
}

#[test]
fn an_axis_named_like_a_column_is_written_axis_dot_its_name_and_the_column_keeps_its_own() {
    use devspec_protocol::StepKind;

    use crate::ops::{RowState, StepResults, StepRow};

    // A sweep over a train's `steps`: the loss series' `steps` list keeps its documented name.
    let row = |steps: &str| StepRow {
        instance: format!("run[steps={steps}]"),
        kind: StepKind::Train,
        coords: vec![("steps".to_owned(), steps.to_owned())],
        checkpoint: None,
        state: RowState::NotRun("will run"),
    };
    let results = StepResults {
        step: "run".to_owned(),
        kind: StepKind::Train,
        rows: vec![row("100"), row("200")],
        damaged: Vec::new(),
    };
    let table = super::step_table(&results, super::Shape::Wide);
    let schema = table.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        ["instance", "axis.steps", "checkpoint", "status", "key", "steps", "train_loss"]
    );
    assert_eq!(
        table.column_by_name("axis.steps").unwrap().as_primitive::<Int64Type>().value(1),
        200
    );
    assert!(table.column_by_name("steps").unwrap().is_null(0), "no series before a run");
}
