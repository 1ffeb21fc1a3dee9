//! The parser pest generates from `grammar/devspec.pest`. Nothing outside `syntax` sees it.

#[derive(pest_derive::Parser)]
#[grammar = "../grammar/devspec.pest"]
pub struct DevParser;
