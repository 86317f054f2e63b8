//! Pure checks of command-line values. Each returns the value to use or a message saying what is
//! expected; used as clap value parsers, so clap names the flag in front of the message.

use std::io::BufRead;

use flyt::credentials::{self, Presented};
use flyt::institution::ExamSystem;

/// The fewest characters a client password may have.
pub const MIN_PASSWORD_CHARS: usize = 16;
/// The rate limit a client gets unless `--rate-limit` says otherwise.
pub const DEFAULT_RATE_LIMIT: u32 = 600;
const KEY_ID_HEX_DIGITS: usize = 12;

/// A client id: `^[a-z0-9][a-z0-9-]{1,39}$`.
pub fn client_id(value: &str) -> Result<String, String> {
    if flyt::credentials::is_client_id(value) {
        Ok(value.to_owned())
    } else {
        Err(
            "use 2 to 40 characters of a-z, 0-9 and '-', starting with a letter or digit \
             (e.g. wiseflow-uib)"
                .to_owned(),
        )
    }
}

/// An exam system: INSPERA or WISEFLOW, in any case.
pub fn exam_system(value: &str) -> Result<ExamSystem, String> {
    ExamSystem::parse(value).ok_or_else(|| "use INSPERA or WISEFLOW".to_owned())
}

/// An FS institution number: 1 to 4 digits.
pub fn institution(value: &str) -> Result<String, String> {
    if (1..=4).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err("use FS's institution number, 1 to 4 digits (e.g. 194); \
             repeat the flag for several institutions"
            .to_owned())
    }
}

/// Requests per minute: a whole number of at least 1.
pub fn rate_limit(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(limit) if limit >= 1 => Ok(limit),
        Ok(_) => Err(
            "use at least 1 request per minute; switch a client off with --inactive instead"
                .to_owned(),
        ),
        Err(_) => Err(format!(
            "use a whole number of requests per minute, e.g. {DEFAULT_RATE_LIMIT}"
        )),
    }
}

/// A key id: 12 hex digits. A whole API key (`flyt_<key id>_<secret>`) is accepted too and
/// stands for its key id, so a leaked key can be revoked as it was found.
pub fn key_id(value: &str) -> Result<String, String> {
    if let Ok(Presented::ApiKey { key_id, .. }) = credentials::parse_api_key(value) {
        return Ok(key_id);
    }
    if value.len() == KEY_ID_HEX_DIGITS && value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(value.to_ascii_lowercase());
    }
    Err("use the key id: the 12 hex digits after `flyt_` in the key (e.g. 0123456789ab)".to_owned())
}

/// Reads a password from the first line of `input`, without its line ending, and checks its
/// length. The message never contains the password.
pub fn read_password(mut input: impl BufRead) -> Result<String, String> {
    let mut line = String::new();
    let read = input
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
    if read == 0 {
        return Err("no password on stdin: pipe it in, one line, \
                    e.g. `printf '%s\\n' \"$PASSWORD\" | flyt clients set-password <CLIENT_ID>`, \
                    or pass --remove"
            .to_owned());
    }
    let password = line
        .strip_suffix('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .unwrap_or(&line);
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password on stdin has {chars} characters: use at least {MIN_PASSWORD_CHARS}"
        ));
    }
    Ok(password.to_owned())
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use clap::Parser;

    use super::*;
    use crate::Cli;

    #[test]
    fn client_ids_follow_the_pattern() {
        for good in [
            "ab",
            "wiseflow",
            "wiseflow-uib",
            "0x",
            "a-",
            &"a".repeat(40),
        ] {
            assert_eq!(client_id(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "a",
            "-ab",
            "Wiseflow",
            "wise_flow",
            "wise flow",
            "æøå",
            &"a".repeat(41),
        ] {
            let message = client_id(bad).unwrap_err();
            assert!(message.contains("a-z, 0-9 and '-'"), "{bad}: {message}");
        }
    }

    #[test]
    fn exam_systems_are_inspera_or_wiseflow_in_any_case() {
        assert_eq!(exam_system("WISEFLOW"), Ok(ExamSystem::Wiseflow));
        assert_eq!(exam_system("inspera"), Ok(ExamSystem::Inspera));
        assert_eq!(
            exam_system("canvas").unwrap_err(),
            "use INSPERA or WISEFLOW"
        );
    }

    #[test]
    fn institutions_are_one_to_four_digits() {
        for good in ["1", "185", "0194", "9999"] {
            assert_eq!(institution(good).as_deref(), Ok(good));
        }
        for bad in ["", "12345", "19a", "-1", " 185", "uio"] {
            assert!(
                institution(bad).unwrap_err().contains("1 to 4 digits"),
                "{bad}"
            );
        }
    }

    #[test]
    fn rate_limits_are_positive_whole_numbers() {
        assert_eq!(rate_limit("600"), Ok(600));
        assert_eq!(rate_limit("1"), Ok(1));
        assert!(rate_limit("0").unwrap_err().contains("--inactive"));
        for bad in ["-5", "ten", "1.5", "99999999999"] {
            assert!(
                rate_limit(bad).unwrap_err().contains("whole number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_ids_are_twelve_hex_digits_or_taken_from_a_whole_key() {
        assert_eq!(key_id("0123456789ab").as_deref(), Ok("0123456789ab"));
        assert_eq!(key_id("0123456789AB").as_deref(), Ok("0123456789ab"));
        let new = credentials::new_api_key();
        assert_eq!(key_id(&new.key), Ok(new.key_id));
        for bad in [
            "",
            "0123456789a",
            "0123456789abc",
            "0123456789ag",
            "flyt_x_y",
        ] {
            assert!(key_id(bad).unwrap_err().contains("12 hex digits"), "{bad}");
        }
    }

    #[test]
    fn a_password_is_one_line_of_at_least_sixteen_characters() {
        let read = |input: &str| read_password(Cursor::new(input.as_bytes().to_vec()));
        assert_eq!(
            read("correct horse battery\n").as_deref(),
            Ok("correct horse battery")
        );
        assert_eq!(
            read("sixteen-chars-ok\r\nsecond line\n").as_deref(),
            Ok("sixteen-chars-ok")
        );
        assert_eq!(
            read("no-newline-at-the-end").as_deref(),
            Ok("no-newline-at-the-end")
        );
        assert_eq!(read("ævæøåæøåæøåæøåæø").as_deref(), Ok("ævæøåæøåæøåæøåæø"));
        let short = read("fifteen-chars-x\n").unwrap_err();
        assert!(short.contains("15 characters"), "{short}");
        assert!(short.contains("at least 16"), "{short}");
        assert!(
            !short.contains("fifteen-chars-x"),
            "the message hides the password"
        );
        assert!(read("").unwrap_err().contains("no password on stdin"));
        assert!(read("\n").unwrap_err().contains("0 characters"));
    }

    fn parse_error(args: &[&str]) -> String {
        let args = ["flyt", "--clients-table", "Config"].iter().chain(args);
        Cli::try_parse_from(args).unwrap_err().to_string()
    }

    #[test]
    fn invalid_values_are_refused_naming_the_flag() {
        let put = ["clients", "put", "wiseflow-uib"];
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            put.iter().chain(extra).copied().collect()
        };
        let error = parse_error(&with(&["--exam-system", "CANVAS", "--institution", "194"]));
        assert!(error.contains("--exam-system"), "{error}");
        assert!(error.contains("INSPERA or WISEFLOW"), "{error}");
        let error = parse_error(&with(&[
            "--exam-system",
            "WISEFLOW",
            "--institution",
            "194",
            "--institution",
            "uib",
        ]));
        assert!(error.contains("--institution"), "{error}");
        assert!(error.contains("1 to 4 digits"), "{error}");
        let error = parse_error(&with(&[
            "--exam-system",
            "WISEFLOW",
            "--institution",
            "194",
            "--rate-limit",
            "0",
        ]));
        assert!(error.contains("--rate-limit"), "{error}");
        let error = parse_error(&with(&["--exam-system", "WISEFLOW"]));
        assert!(error.contains("--institution"), "{error}");
        let error = parse_error(&[
            "clients",
            "put",
            "Wiseflow",
            "--exam-system",
            "WISEFLOW",
            "--institution",
            "194",
        ]);
        assert!(error.contains("<CLIENT_ID>"), "{error}");
        let error = parse_error(&["keys", "revoke", "nope"]);
        assert!(error.contains("<KEY_ID>"), "{error}");
    }

    #[test]
    fn a_valid_put_parses_into_the_grant() {
        let cli = Cli::try_parse_from([
            "flyt",
            "clients",
            "put",
            "wiseflow-uib",
            "--exam-system",
            "wiseflow",
            "--institution",
            "194",
            "--institution",
            "185,194",
        ])
        .unwrap();
        let crate::Command::Clients(crate::clients::ClientsCommand::Put(put)) = cli.command else {
            panic!("not a put: {cli:?}")
        };
        let client = put.client();
        assert_eq!(client.client_id, "wiseflow-uib");
        assert_eq!(client.exam_system, ExamSystem::Wiseflow);
        assert_eq!(
            client.institutions.iter().collect::<Vec<_>>(),
            ["185", "194"]
        );
        assert_eq!(client.rate_limit_per_minute, DEFAULT_RATE_LIMIT);
        assert!(client.active);
        assert_eq!(client.password_hash, None);
    }
}
