//! `bid run --budget 2h`: the wall time the owner grants a bid. Written as whole numbers with a
//! unit each, `s`, `m` or `h`, added up: `90s`, `45m`, `2h`, `1h30m`.

use std::time::Duration;

/// The duration `text` writes, or why it is not one.
pub fn parse(text: &str) -> Result<Duration, String> {
    let mut seconds: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(format!("`{text}`: `{c}` is not a unit (s, m or h)")),
        };
        let n: u64 = digits
            .parse()
            .map_err(|_| format!("`{text}`: a unit needs a whole number before it"))?;
        seconds = seconds.saturating_add(n.saturating_mul(unit));
        digits.clear();
    }
    if !digits.is_empty() || seconds == 0 {
        return Err(format!("`{text}` is not a budget: write it as 90s, 45m, 2h or 1h30m"));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse;

    #[test]
    fn budgets_add_their_parts_and_need_a_unit() {
        assert_eq!(parse("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert!(parse("90").is_err());
        assert!(parse("2d").is_err());
        assert!(parse("0s").is_err());
        assert!(parse("h").is_err());
    }
}
