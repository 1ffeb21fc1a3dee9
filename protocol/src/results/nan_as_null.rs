//! JSON has no NaN or infinity: `serde_json` writes a non-finite float as `null`. A diverged
//! run's loss or a chain's trace past its divergence is such a number, so where a result holds
//! a number, these read `null` back as NaN rather than refusing the whole result.

use serde::{Deserialize, Deserializer};

fn or_nan(value: Option<f64>) -> f64 {
    value.unwrap_or(f64::NAN)
}

pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Option::<f64>::deserialize(d).map(or_nan)
}

pub fn numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?.into_iter().map(or_nan).collect())
}

pub fn lists<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
    let lists = Vec::<Vec<Option<f64>>>::deserialize(d)?;
    Ok(lists.into_iter().map(|list| list.into_iter().map(or_nan).collect()).collect())
}
