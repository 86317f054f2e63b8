//! Plain-text layout shared by the commands.

/// One record as two aligned columns, label and value, a line each; ends with a newline.
pub fn fields(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(label, value)| format!("{label:<width$}  {value}\n"))
        .collect()
}

/// "yes" or "no".
pub fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_padded_to_the_longest() {
        assert_eq!(
            fields(&[("client", "a".into()), ("exam system", "WISEFLOW".into())]),
            "client       a\nexam system  WISEFLOW\n"
        );
        assert_eq!(fields(&[]), "");
    }
}
