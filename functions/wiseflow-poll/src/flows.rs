//! What one poll makes of WISEflow's answers, flow by flow (pure): which open requests were
//! accepted (and go to FS), which the assessor responded to but WISEflow has not accepted yet,
//! which are still waiting, and which flows could not be asked — each with its own line.

use std::collections::BTreeMap;

use flyt::clients::wiseflow::Explanation;
use flyt::error::{Category, Error};
use flyt::execution::LogLine;
use flyt::open_explanations::OpenExplanation;

/// WISEflow's explanation state "assessor responded": the response still awaits acceptance.
pub const ASSESSOR_RESPONDED: u8 = 2;
/// WISEflow's explanation state "response accepted": the explanation is final.
pub const RESPONSE_ACCEPTED: u8 = 3;

/// An open request WISEflow reports accepted, ready for FS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The request as Flyt noted it.
    pub request: OpenExplanation,
    /// When WISEflow accepted the response (epoch ms); the poll's time when WISEflow omits it.
    pub given_at_ms: i64,
    /// Where the candidate reads the explanation.
    pub url: String,
}

/// What one poll found, over all flows of an institution.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    /// Requests accepted in WISEflow: queued for FS and taken off the open list.
    pub accepted: Vec<Accepted>,
    /// Requests the assessor responded to that WISEflow has not accepted: they stay open, and
    /// nothing is written to FS until they are accepted.
    pub responded: usize,
    /// Requests not yet responded to (requested or assigned).
    pub waiting: usize,
    /// Requests Flyt holds open that WISEflow does not list on their flow: (flow, request).
    pub not_listed: Vec<(u64, u64)>,
    /// Flows WISEflow could not be asked about, with the error and their open requests' count.
    pub failed_flows: Vec<(u64, usize, Error)>,
    /// Flows not asked about because an earlier flow's failure would repeat for every flow
    /// (rejected credentials): their open requests' count.
    pub skipped_requests: usize,
}

impl PollOutcome {
    /// Adds one flow's listing: each of `requests` (the flow's open requests) is accepted,
    /// responded, waiting or not listed, by its state in `listed`.
    pub fn add_listing(
        &mut self,
        requests: &[OpenExplanation],
        listed: &[Explanation],
        now_ms: i64,
    ) {
        let states: BTreeMap<u64, &Explanation> =
            listed.iter().map(|e| (e.explanation_id, e)).collect();
        for request in requests {
            match states.get(&request.explanation_request_id) {
                None => self
                    .not_listed
                    .push((request.flow_id, request.explanation_request_id)),
                Some(e) if e.state >= RESPONSE_ACCEPTED => self.accepted.push(Accepted {
                    request: request.clone(),
                    given_at_ms: e.accept_date_ms.unwrap_or(now_ms),
                    url: e.sso_url.clone().unwrap_or_default(),
                }),
                Some(e) if e.state == ASSESSOR_RESPONDED => self.responded += 1,
                Some(_) => self.waiting += 1,
            }
        }
    }

    /// Records that flow `flow_id`, with `open` open requests, could not be asked about.
    pub fn add_failure(&mut self, flow_id: u64, open: usize, error: Error) {
        self.failed_flows.push((flow_id, open, error));
    }

    /// Whether the poll has anything for an execution: an answer, a response awaiting
    /// acceptance, a request WISEflow does not list, or a failed flow.
    pub fn has_news(&self) -> bool {
        !self.accepted.is_empty()
            || self.responded > 0
            || !self.not_listed.is_empty()
            || !self.failed_flows.is_empty()
    }

    /// The execution's counters, with `queued` the accepted answers actually sent.
    pub fn counters(&self, open: usize, queued: usize) -> Vec<(&'static str, u64)> {
        vec![
            ("open", open as u64),
            ("answered", queued as u64),
            ("responded", self.responded as u64),
            ("waiting", self.waiting as u64),
            ("not_listed", self.not_listed.len() as u64),
            ("flows_failed", self.failed_flows.len() as u64),
            ("skipped", self.skipped_requests as u64),
        ]
    }

    /// The execution's lines: a summary, a warning per request WISEflow does not list, and an
    /// error line per failed flow (its id, the category, and what happens to its requests).
    pub fn lines(&self, open: usize, queued: usize) -> Vec<LogLine> {
        let mut lines = vec![LogLine::info(format!(
            "{queued} of {open} open WISEflow explanation requests answered and queued for FS; \
             {} responded by the assessor and awaiting acceptance in WISEflow (not sent to FS \
             until accepted); {} not yet responded",
            self.responded, self.waiting
        ))];
        lines.extend(self.not_listed.iter().map(|(flow_id, request_id)| {
            LogLine::warning(format!(
                "WISEflow flow {flow_id} does not list explanation request {request_id}: it stays \
                 open; check in WISEflow whether the request was deleted"
            ))
        }));
        lines.extend(self.failed_flows.iter().map(|(flow_id, requests, error)| {
            LogLine::error(&flow_error(*flow_id, *requests, error))
        }));
        if self.skipped_requests > 0 {
            lines.push(LogLine::error(&Error::cascade(format!(
                "{} open requests on the remaining flows were not polled after the failure above; \
                 they stay open for the next poll",
                self.skipped_requests
            ))));
        }
        lines
    }
}

/// Whether a flow's failure would repeat for every other flow of the institution, so asking
/// about them is pointless: rejected credentials (Configuration).
pub fn stops_the_poll(error: &Error) -> bool {
    error.category() == Category::Configuration
}

/// A flow's failure as its own error: the flow, its open requests, that they stay open, and
/// what to do for its category.
fn flow_error(flow_id: u64, requests: usize, error: &Error) -> Error {
    Error::new(
        error.category(),
        format!(
            "WISEflow flow {flow_id}: {}; its {requests} open explanation requests stay open and \
             are asked about again at the next poll (nothing is lost); {}",
            error.message(),
            error.category().action()
        ),
    )
}

/// The open requests by flow, each flow's in order.
pub fn by_flow(open: &[OpenExplanation]) -> BTreeMap<u64, Vec<OpenExplanation>> {
    let mut flows: BTreeMap<u64, Vec<OpenExplanation>> = BTreeMap::new();
    for request in open {
        flows
            .entry(request.flow_id)
            .or_default()
            .push(request.clone());
    }
    flows
}

#[cfg(test)]
mod tests {
    use super::*;
    use flyt::execution::Level;

    fn open(flow_id: u64, id: u64) -> OpenExplanation {
        OpenExplanation {
            flow_id,
            explanation_request_id: id,
            vurd_id: "MTk0LUVYUEhJTDAz".into(),
            kandidatnr: format!("{}", 100_000 + id),
            requested_at: "2026-11-20T10:00:00".into(),
        }
    }

    fn listed(flow_id: u64, id: u64, state: u8, accepted_at: Option<i64>) -> Explanation {
        Explanation {
            explanation_id: id,
            flow_id,
            participant_id: Some(50_001),
            state,
            request_date_ms: Some(1),
            accept_date_ms: accepted_at,
            show_justification: false,
            sso_url: Some(format!("https://europe.wiseflow.net/sso/explanation/{id}")),
        }
    }

    #[test]
    fn requests_are_grouped_by_flow() {
        let flows = by_flow(&[open(2, 1), open(1, 2), open(2, 3)]);
        assert_eq!(flows.keys().copied().collect::<Vec<_>>(), [1, 2]);
        assert_eq!(flows[&2], [open(2, 1), open(2, 3)]);
    }

    #[test]
    fn only_accepted_requests_go_to_fs_and_responded_ones_are_counted() {
        let requests = [open(1, 1), open(1, 2), open(1, 3), open(1, 4), open(1, 5)];
        let listing = [
            listed(1, 1, 3, Some(1_700)),
            listed(1, 2, 2, None),
            listed(1, 3, 1, None),
            listed(1, 4, 0, None),
            listed(1, 99, 3, Some(5)),
        ];
        let mut outcome = PollOutcome::default();
        outcome.add_listing(&requests, &listing, 9_999);
        assert_eq!(
            outcome.accepted,
            [Accepted {
                request: open(1, 1),
                given_at_ms: 1_700,
                url: "https://europe.wiseflow.net/sso/explanation/1".into(),
            }]
        );
        assert_eq!(outcome.responded, 1);
        assert_eq!(outcome.waiting, 2);
        assert_eq!(outcome.not_listed, [(1, 5)]);
        assert!(outcome.has_news());
        let counters = outcome.counters(5, 1);
        assert!(counters.contains(&("responded", 1)));
        assert!(counters.contains(&("answered", 1)));
        assert!(counters.contains(&("not_listed", 1)));
    }

    #[test]
    fn an_accepted_request_without_a_date_gets_the_polls_time() {
        let mut outcome = PollOutcome::default();
        outcome.add_listing(&[open(1, 1)], &[listed(1, 1, 3, None)], 42);
        assert_eq!(outcome.accepted[0].given_at_ms, 42);
    }

    #[test]
    fn nothing_but_waiting_requests_is_no_news() {
        let mut outcome = PollOutcome::default();
        outcome.add_listing(&[open(1, 1)], &[listed(1, 1, 1, None)], 42);
        assert!(!outcome.has_news());
    }

    #[test]
    fn a_failed_flow_is_its_own_error_line_naming_the_flow_and_what_to_do() {
        let mut outcome = PollOutcome::default();
        outcome.add_listing(&[open(1, 1)], &[listed(1, 1, 3, Some(1))], 2);
        outcome.add_failure(
            2,
            3,
            Error::external("WISEflow flow 2: listing explanation requests answered 503"),
        );
        outcome.add_failure(3, 1, Error::mapping("WISEflow: flow 3 was not found (404)"));
        assert!(outcome.has_news());
        let lines = outcome.lines(5, 1);
        let errors: Vec<&LogLine> = lines.iter().filter(|l| l.level == Level::Error).collect();
        assert_eq!(errors.len(), 2, "{lines:?}");
        assert_eq!(errors[0].category, Some(Category::External));
        assert!(
            errors[0].message.starts_with("WISEflow flow 2: "),
            "{}",
            errors[0].message
        );
        assert!(errors[0]
            .message
            .contains("its 3 open explanation requests stay open"));
        assert!(errors[0].message.contains(Category::External.action()));
        assert_eq!(errors[1].category, Some(Category::Mapping));
        assert!(errors[1].message.contains(Category::Mapping.action()));
        assert!(outcome.counters(5, 1).contains(&("flows_failed", 2)));
    }

    #[test]
    fn only_rejected_credentials_stop_the_poll() {
        assert!(stops_the_poll(&Error::configuration("401")));
        assert!(!stops_the_poll(&Error::external("503")));
        assert!(!stops_the_poll(&Error::mapping("404")));
    }

    #[test]
    fn skipped_flows_are_a_cascade_line() {
        let outcome = PollOutcome {
            failed_flows: vec![(1, 1, Error::configuration("WISEflow answered 401"))],
            skipped_requests: 4,
            ..PollOutcome::default()
        };
        let lines = outcome.lines(5, 0);
        let last = lines.last().unwrap();
        assert_eq!(last.category, Some(Category::Cascade));
        assert!(last.message.starts_with("4 open requests"));
    }
}
