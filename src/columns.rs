//! Aligned columns of text, as `show`, `verify` and `diff` print their tables: each column as
//! wide as its widest cell (counted in characters, so `±` is one), two spaces between columns,
//! each line indented by `indent` and without trailing spaces.

use std::fmt::Write as _;

/// The rows as aligned lines (rows may be shorter than the widest: their cells are aligned as
/// far as they go).
pub fn align<S: AsRef<str>>(rows: &[Vec<S>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.as_ref().chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> =
            row.iter().zip(&widths).map(|(cell, w)| format!("{:<w$}", cell.as_ref())).collect();
        let _ = writeln!(out, "{}", format!("{indent}{}", cells.join("  ")).trim_end());
    }
    out
}

/// One line of comma-separated values (RFC 4180): a cell holding a comma, a quote or a line
/// break is quoted, its quotes doubled.
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            let c = c.as_ref();
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.to_owned()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

#[cfg(test)]
mod tests {
    use super::{align, csv_line};

    #[test]
    fn csv_cells_with_commas_quotes_or_breaks_are_quoted() {
        assert_eq!(
            csv_line(&["a", "b,c", "say \"x\"", "1\n2"]),
            "a,\"b,c\",\"say \"\"x\"\"\",\"1\n2\"\n"
        );
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_counted_in_characters() {
        let rows = vec![vec!["a", "1.0 ± 0.1", "x"], vec!["long name", "2", ""]];
        assert_eq!(align(&rows, "  "), "  a          1.0 ± 0.1  x\n  long name  2\n");
    }
}
