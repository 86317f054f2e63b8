//! Deterministic seed data for the export reports.

use chrono::{DateTime, Duration, Utc};

use super::{Change, Report};
use crate::isbn;

/// How far back seeded change times reach.
const SEED_WINDOW_SECS: u32 = 2 * 24 * 60 * 60;
/// Fraction of seeded changes that are a newer version of an earlier (isbn, type).
const REPEAT_RATE: f64 = 0.10;

const OWNER_CODES: [&str; 8] = [
    "GYLD", "CAPP", "ASCH", "PAXF", "SAMLAG", "VIGMO", "KAGGE", "OKTOB",
];

const WORDS: [&str; 32] = [
    "boka",
    "forteller",
    "om",
    "en",
    "ung",
    "kvinne",
    "fra",
    "Bergen",
    "som",
    "reiser",
    "til",
    "Finnmark",
    "romanen",
    "er",
    "sterk",
    "og",
    "vakker",
    "historie",
    "familie",
    "krigen",
    "kjærlighet",
    "havet",
    "fjellet",
    "sommer",
    "vinter",
    "byen",
    "mørke",
    "hemmeligheter",
    "lys",
    "håp",
    "vennskap",
    "øya",
];

/// Seeded change logs and the pool of books they are drawn from.
pub(crate) struct Seeded {
    pub(crate) objects: Vec<Change>,
    pub(crate) descriptions: Vec<Change>,
    pub(crate) books: Vec<String>,
}

/// Builds both reports from `seed`, with change times spread over the two
/// days before `now`.
pub(crate) fn seed(objects: usize, descriptions: usize, seed: u64, now: DateTime<Utc>) -> Seeded {
    let mut rng = fastrand::Rng::with_seed(seed);
    let books = book_pool(&mut rng, objects.max(descriptions));
    Seeded {
        objects: seed_report(&mut rng, Report::Objects, objects, &books, now),
        descriptions: seed_report(&mut rng, Report::Descriptions, descriptions, &books, now),
        books,
    }
}

fn book_pool(rng: &mut fastrand::Rng, size: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut books = Vec::with_capacity(size);
    while books.len() < size {
        let isbn = isbn::generate(rng);
        if seen.insert(isbn.clone()) {
            books.push(isbn);
        }
    }
    books
}

fn seed_report(
    rng: &mut fastrand::Rng,
    report: Report,
    count: usize,
    books: &[String],
    now: DateTime<Utc>,
) -> Vec<Change> {
    let types = report.type_codes();
    let mut used = std::collections::HashSet::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();
    let mut offsets: Vec<u32> = (0..count).map(|_| rng.u32(1..=SEED_WINDOW_SECS)).collect();
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    offsets
        .into_iter()
        .enumerate()
        .map(|(index, offset)| {
            let (book, kind) = if !pairs.is_empty() && rng.f64() < REPEAT_RATE {
                pairs[rng.usize(..pairs.len())]
            } else {
                loop {
                    let pair = (rng.usize(..books.len()), rng.usize(..types.len()));
                    if used.insert(pair) {
                        pairs.push(pair);
                        break pair;
                    }
                }
            };
            let seq = index as u64 + 1;
            Change {
                seq,
                at: now - Duration::seconds(i64::from(offset)),
                isbn13: books[book].clone(),
                type_code: types[kind].to_owned(),
                id: report.change_id(seq),
            }
        })
        .collect()
}

/// The publisher code shown as `VAREEIER_KODE` for a book.
pub(crate) fn owner_code(isbn: &str) -> &'static str {
    OWNER_CODES[(isbn::stable_hash(isbn) % OWNER_CODES.len() as u64) as usize]
}

/// Generated Norwegian-ish description text, already XML-escaped; it always
/// contains an `&amp;` entity so clients must decode entities.
pub(crate) fn description_text(seed: u64, seq: u64, type_code: &str) -> String {
    let mut rng = fastrand::Rng::with_seed(seed ^ seq.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let sentences = match type_code {
        "short" => 1,
        "review" => 2,
        _ => 4,
    };
    let mut text: Vec<String> = (0..sentences)
        .map(|_| {
            let length = rng.usize(6..12);
            let words: Vec<&str> = (0..length)
                .map(|_| WORDS[rng.usize(..WORDS.len())])
                .collect();
            let sentence = words.join(" ");
            let mut chars = sentence.chars();
            let first = chars.next().map(|c| c.to_uppercase().to_string());
            format!("{}{}.", first.unwrap_or_default(), chars.as_str())
        })
        .collect();
    text.push("Utgitt av Gyldendal &amp; Co.".to_owned());
    text.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_ordered_and_repeats_some_items() {
        let now = Utc::now();
        let first = seed(500, 400, 7, now);
        let second = seed(500, 400, 7, now);
        assert_eq!(first.objects, second.objects);
        assert_eq!(first.descriptions.len(), 400);
        for log in [&first.objects, &first.descriptions] {
            assert!(log
                .windows(2)
                .all(|w| w[0].seq < w[1].seq && w[0].at <= w[1].at));
            assert!(log.iter().all(|c| isbn::is_valid(&c.isbn13) && c.at < now));
            let distinct: std::collections::HashSet<_> =
                log.iter().map(|c| (&c.isbn13, &c.type_code)).collect();
            let repeats = log.len() - distinct.len();
            assert!(
                repeats > log.len() / 20 && repeats < log.len() / 5,
                "{repeats}"
            );
        }
    }

    #[test]
    fn description_text_has_an_entity() {
        assert!(description_text(7, 3, "long").contains("&amp;"));
    }
}
