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

/// `text` of another system (an execution line, a parked message, a vendor's answer) safe for a
/// terminal on one line: tabs and line breaks become spaces, and every other control character
/// is shown escaped (`\u{1b}`), so that no escape sequence in it can rewrite the screen.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\t' => " ".to_owned(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
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

    #[test]
    fn control_characters_of_other_systems_are_shown_not_obeyed() {
        assert_eq!(
            printable("ok\x1b[2J\x1b]0;pwned\x07 done\r\nnext\tcol"),
            "ok\\u{1b}[2J\\u{1b}]0;pwned\\u{7} done  next col"
        );
        assert_eq!(printable("æøå – fine"), "æøå – fine");
    }
}
