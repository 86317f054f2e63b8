//! WISEflow's flows and participants, derived from FS: every distinct exam
//! (by `sisKode`) of an institution that uses WISEflow is one flow, and every
//! `kandidatnr` seen for that exam is one of its participants. Ids are handed
//! out on first sight and never change.

use std::collections::{BTreeMap, HashMap};

use crate::fs::FsState;

/// The first flow id handed out.
const FIRST_FLOW_ID: u64 = 1001;
/// The first participant id handed out.
const FIRST_PARTICIPANT_ID: u64 = 50001;
/// The first user id handed out; one user per `kandidatnr`.
const FIRST_USER_ID: u64 = 70001;
/// The exam system name FS gives institutions that use WISEflow.
const EXAM_SYSTEM: &str = "WISEFLOW";

/// One candidate at one exam, as read from an FS change list.
pub(super) struct Sighting {
    sis_code: String,
    assessment_id: String,
    candidate_number: String,
    first_name: String,
    last_name: String,
}

/// Every candidate-at-exam in the appeal and explanation-request lists of the
/// institutions that use WISEflow, in list order. Reads FS without holding
/// any WISEflow lock.
pub(super) fn sightings(fs: &FsState) -> Vec<Sighting> {
    let mut sightings = Vec::new();
    for institution in fs.institutions() {
        if !institution.exam_system.eq_ignore_ascii_case(EXAM_SYSTEM) {
            continue;
        }
        let number = &institution.institusjonsnr;
        sightings.extend(fs.appeals(number).into_iter().map(|a| Sighting {
            sis_code: a.sis_code,
            assessment_id: a.assessment_id,
            candidate_number: a.candidate_number,
            first_name: a.first_name,
            last_name: a.last_name,
        }));
        sightings.extend(
            fs.explanation_requests(number)
                .into_iter()
                .map(|r| Sighting {
                    sis_code: r.sis_code,
                    assessment_id: r.assessment_id,
                    candidate_number: r.candidate_number,
                    first_name: r.first_name,
                    last_name: r.last_name,
                }),
        );
    }
    sightings
}

/// A flow: one exam.
#[derive(Clone, Debug)]
pub(super) struct Flow {
    pub(super) id: u64,
    /// FS's `sisKode`, `<course name>||<course code>||<term>||<year>`.
    pub(super) sis_code: String,
    /// FS's `vurdId` of the exam, as first seen.
    pub(super) assessment_id: String,
    /// When the flow was first seen, unix milliseconds.
    pub(super) created_ms: i64,
    /// Participant ids, in the order they were first seen.
    pub(super) participants: Vec<u64>,
}

impl Flow {
    /// The course name: the first part of the SIS code.
    pub(super) fn name(&self) -> &str {
        self.sis_code.split("||").next().unwrap_or_default()
    }

    /// Course code, term and year, e.g. `EXPHIL03 HØST 2026`.
    pub(super) fn sub_name(&self) -> String {
        self.sis_code
            .split("||")
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Whether the SIS code matches `pattern`, whose `*` parts match any part.
    pub(super) fn matches(&self, pattern: &str) -> bool {
        let parts: Vec<&str> = self.sis_code.split("||").collect();
        let wanted: Vec<&str> = pattern.split("||").collect();
        parts.len() == wanted.len()
            && parts
                .iter()
                .zip(&wanted)
                .all(|(part, want)| *want == "*" || part == want)
    }
}

/// A participant of one flow, with the user behind it.
#[derive(Clone, Debug)]
pub(super) struct Participant {
    pub(super) id: u64,
    pub(super) flow_id: u64,
    pub(super) user_id: u64,
    /// FS's `kandidatnr`.
    pub(super) candidate_number: String,
    /// The newest first name FS gave for this candidate at this exam.
    pub(super) first_name: String,
    /// The newest last name FS gave for this candidate at this exam.
    pub(super) last_name: String,
}

/// Every flow and participant seen so far, with their stable ids.
pub(super) struct Directory {
    flows: BTreeMap<u64, Flow>,
    flow_ids: HashMap<String, u64>,
    participants: BTreeMap<u64, Participant>,
    participant_ids: HashMap<(u64, String), u64>,
    user_ids: HashMap<String, u64>,
}

impl Directory {
    /// An empty directory.
    pub(super) fn new() -> Self {
        Self {
            flows: BTreeMap::new(),
            flow_ids: HashMap::new(),
            participants: BTreeMap::new(),
            participant_ids: HashMap::new(),
            user_ids: HashMap::new(),
        }
    }

    /// Takes in what FS holds now: new exams become flows, new candidates
    /// participants; names are refreshed. Sightings without a SIS code or a
    /// `kandidatnr` cannot be placed and are skipped.
    pub(super) fn observe(&mut self, sightings: Vec<Sighting>, now_ms: i64) {
        for sighting in sightings {
            if sighting.sis_code.is_empty() || sighting.candidate_number.is_empty() {
                continue;
            }
            let flow_id = self.flow_id(&sighting, now_ms);
            let next_participant = FIRST_PARTICIPANT_ID + self.participants.len() as u64;
            let key = (flow_id, sighting.candidate_number.clone());
            let participant_id = *self.participant_ids.entry(key).or_insert(next_participant);
            if participant_id == next_participant {
                let next_user = FIRST_USER_ID + self.user_ids.len() as u64;
                let user_id = *self
                    .user_ids
                    .entry(sighting.candidate_number.clone())
                    .or_insert(next_user);
                self.participants.insert(
                    participant_id,
                    Participant {
                        id: participant_id,
                        flow_id,
                        user_id,
                        candidate_number: sighting.candidate_number,
                        first_name: sighting.first_name,
                        last_name: sighting.last_name,
                    },
                );
                if let Some(flow) = self.flows.get_mut(&flow_id) {
                    flow.participants.push(participant_id);
                }
            } else if let Some(participant) = self.participants.get_mut(&participant_id) {
                participant.first_name = sighting.first_name;
                participant.last_name = sighting.last_name;
            }
        }
    }

    /// The id of the sighting's flow, creating the flow on first sight.
    fn flow_id(&mut self, sighting: &Sighting, now_ms: i64) -> u64 {
        if let Some(&id) = self.flow_ids.get(&sighting.sis_code) {
            return id;
        }
        let id = FIRST_FLOW_ID + self.flows.len() as u64;
        self.flow_ids.insert(sighting.sis_code.clone(), id);
        self.flows.insert(
            id,
            Flow {
                id,
                sis_code: sighting.sis_code.clone(),
                assessment_id: sighting.assessment_id.clone(),
                created_ms: now_ms,
                participants: Vec::new(),
            },
        );
        id
    }

    /// Every flow, by id.
    pub(super) fn flows(&self) -> impl Iterator<Item = &Flow> {
        self.flows.values()
    }

    /// One flow.
    pub(super) fn flow(&self, id: u64) -> Option<&Flow> {
        self.flows.get(&id)
    }

    /// One participant.
    pub(super) fn participant(&self, id: u64) -> Option<&Participant> {
        self.participants.get(&id)
    }

    /// The participants of a flow in the order they were first seen, or
    /// `None` for an unknown flow.
    pub(super) fn participants_of(&self, flow_id: u64) -> Option<Vec<&Participant>> {
        let flow = self.flows.get(&flow_id)?;
        Some(
            flow.participants
                .iter()
                .filter_map(|id| self.participants.get(id))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sighting(sis_code: &str, candidate_number: &str) -> Sighting {
        Sighting {
            sis_code: sis_code.to_owned(),
            assessment_id: format!("vurd-{sis_code}"),
            candidate_number: candidate_number.to_owned(),
            first_name: "First".to_owned(),
            last_name: "Last".to_owned(),
        }
    }

    #[test]
    fn ids_are_handed_out_once_and_stay() {
        let mut directory = Directory::new();
        directory.observe(
            vec![
                sighting("A||A1||HØST||2026", "10001"),
                sighting("B||B1||HØST||2026", "10001"),
                sighting("A||A1||HØST||2026", "10002"),
                sighting("A||A1||HØST||2026", "10001"),
                sighting("", "10003"),
            ],
            5,
        );
        let ids: Vec<u64> = directory.flows().map(|f| f.id).collect();
        assert_eq!(ids, vec![1001, 1002]);
        let first: Vec<(u64, u64)> = directory
            .participants_of(1001)
            .unwrap()
            .iter()
            .map(|p| (p.id, p.user_id))
            .collect();
        assert_eq!(first, vec![(50001, 70001), (50003, 70002)]);
        assert_eq!(directory.participant(50002).unwrap().user_id, 70001);

        directory.observe(
            vec![
                sighting("C||C1||HØST||2026", "10004"),
                sighting("A||A1||HØST||2026", "10001"),
            ],
            9,
        );
        assert_eq!(directory.flow(1001).unwrap().participants.len(), 2);
        assert_eq!(directory.flow(1003).unwrap().participants, vec![50004]);
        assert_eq!(directory.flow(1001).unwrap().created_ms, 5);
        assert!(directory.participants_of(999).is_none());
    }

    #[test]
    fn sis_patterns_match_part_by_part() {
        let mut directory = Directory::new();
        directory.observe(vec![sighting("Kjemi||KJEM110||HØST||2026", "1")], 0);
        let flow = directory.flow(1001).unwrap();
        assert!(flow.matches("Kjemi||KJEM110||HØST||2026"));
        assert!(flow.matches("*||KJEM110||*||2026"));
        assert!(!flow.matches("Kjemi||KJEM110||VÅR||2026"));
        assert!(!flow.matches("Kjemi||KJEM110"));
        assert_eq!(flow.name(), "Kjemi");
        assert_eq!(flow.sub_name(), "KJEM110 HØST 2026");
    }
}
