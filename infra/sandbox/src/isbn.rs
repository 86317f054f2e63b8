//! ISBN-13 arithmetic for generating realistic, valid seed data.

/// The EAN-13 check digit for the first twelve digits.
pub(crate) fn check_digit(first_twelve: &str) -> u32 {
    let sum: u32 = first_twelve
        .chars()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { d } else { d * 3 })
        .sum();
    (10 - sum % 10) % 10
}

/// Whether `isbn` is thirteen digits with a correct check digit.
#[cfg(test)]
pub(crate) fn is_valid(isbn: &str) -> bool {
    isbn.len() == 13
        && isbn.chars().all(|c| c.is_ascii_digit())
        && isbn[12..].parse::<u32>().ok() == Some(check_digit(&isbn[..12]))
}

/// Appends the check digit to the first twelve digits.
pub(crate) fn complete(first_twelve: &str) -> String {
    format!("{first_twelve}{}", check_digit(first_twelve))
}

/// A random valid Norwegian ISBN-13 (prefix 978-82).
pub(crate) fn generate(rng: &mut fastrand::Rng) -> String {
    complete(&format!("97882{:07}", rng.u32(..10_000_000)))
}

/// A small stable hash, used to derive per-book attributes deterministically.
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_isbns_validate() {
        assert!(is_valid("9788203193538"));
        assert!(is_valid("9780306406157"));
        assert!(!is_valid("9780306406158"));
        assert!(!is_valid("978030640615"));
    }

    #[test]
    fn generated_isbns_are_valid_and_norwegian() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..1000 {
            let isbn = generate(&mut rng);
            assert!(is_valid(&isbn), "{isbn}");
            assert!(isbn.starts_with("97882"));
        }
    }
}
