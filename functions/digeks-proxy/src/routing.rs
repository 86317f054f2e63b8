//! Where a call goes: the configuration entry that serves (institusjonsnr, the client's exam
//! system), its FS environment, and for a call about an exam, the environment the exam was found
//! in. An exam counts only where it was found in its own institution's environment; the call is
//! forwarded there and nowhere else.

use std::collections::BTreeSet;

use flyt::clients::fs::FsClient;
use flyt::institution::{ExamSystem, Institution};
use tokio::time::Instant;

use crate::exam::ExamFacts;
use crate::operation::Operation;
use crate::serving::{serving, Serving};
use crate::Rejection;
use crate::{configuration_failure, granted_or_forbidden, unexpected, Answer, Audit, Call, Proxy};

/// An FS environment's name and its client.
type Environment = (String, FsClient);

impl Proxy {
    /// The entry serving `institusjonsnr` on `system`: 403 when none does, 502 (the operators
    /// alerted) when its entries disagree or the configuration cannot be read.
    pub(crate) async fn entry(
        &self,
        institusjonsnr: &str,
        system: ExamSystem,
    ) -> Result<Institution, Rejection> {
        let entries = self
            .institutions
            .serving(institusjonsnr, system)
            .await
            .map_err(|error| configuration_failure(&error))?;
        match serving(entries, institusjonsnr, system) {
            Serving::Served(entry) => Ok(*entry),
            Serving::NotServed => Err(Rejection::forbidden(format!(
                "institution {institusjonsnr} is not served on {system} by this proxy"
            ))),
            Serving::Disagree(reason) => {
                Err(configuration_failure(&flyt::Error::configuration(reason)))
            }
        }
    }

    /// The FS environment and client serving `institusjonsnr` on `system`.
    pub(crate) async fn fs_of(
        &self,
        institusjonsnr: &str,
        system: ExamSystem,
    ) -> Result<Environment, Rejection> {
        let entry = self.entry(institusjonsnr, system).await?;
        let client = self
            .connections
            .fs(&entry)
            .cloned()
            .map_err(|error| configuration_failure(&error))?;
        Ok((entry.fs_environment, client))
    }

    /// Finds the exam in the FS environments of the client's institutions, checks that its
    /// institution is granted and that the exam was found in that institution's own environment,
    /// and returns that environment's client, the exam's facts and — for `getExam`, whose answer
    /// the lookup is — FS's answer.
    pub(crate) async fn exam(
        &self,
        system: ExamSystem,
        vurd_id: &str,
        granted: &BTreeSet<String>,
        call: &Call<'_>,
        audit: &mut Audit,
        operation: &Operation,
    ) -> Result<(FsClient, ExamFacts, Option<Answer>), Rejection> {
        let wants_answer = matches!(operation, Operation::GetExam { .. });
        let mut environments: Vec<Environment> = Vec::new();
        for institusjonsnr in granted {
            if let Ok(environment) = self.fs_of(institusjonsnr, system).await {
                if !environments.iter().any(|(name, _)| *name == environment.0) {
                    environments.push(environment);
                }
            }
        }
        if !wants_answer {
            for (name, client) in &environments {
                let Some(facts) = self.exams.get(name, system, vurd_id) else {
                    continue;
                };
                audit.institution = facts.institusjonsnr.clone();
                granted_or_forbidden(granted, &facts.institusjonsnr, audit)?;
                if self.fs_of(&facts.institusjonsnr, system).await?.0 == *name {
                    return Ok((client.clone(), facts, None));
                }
            }
        }
        let path = format!("/eksamen/{system}/{vurd_id}");
        for (name, client) in environments {
            let fs_started = Instant::now();
            let answer = self
                .forward(&client, call, reqwest::Method::GET, &path, &[], None)
                .await;
            audit.fs_ms += fs_started.elapsed().as_millis() as u64;
            let answer = answer?;
            if answer.status == 404 {
                continue;
            }
            if answer.status != 200 {
                return Err(unexpected(&answer, "exam info"));
            }
            let facts = ExamFacts::from_exam_info(&answer.body).ok_or_else(|| {
                Rejection::fs_unavailable("FS's exam info names no institusjonsnr")
            })?;
            audit.institution = facts.institusjonsnr.clone();
            granted_or_forbidden(granted, &facts.institusjonsnr, audit)?;
            let (own, _) = self.fs_of(&facts.institusjonsnr, system).await?;
            if own != name {
                // Found in another institution's environment (a copy in a test FS): not the
                // exam this institution's calls act on.
                tracing::warn!(
                    institution = %facts.institusjonsnr,
                    found_in = %name,
                    served_from = %own,
                    "an exam was found outside its institution's FS environment; the search goes on"
                );
                continue;
            }
            self.exams.put(&name, system, vurd_id, facts.clone());
            let answer = wants_answer.then_some(Answer {
                status: 200,
                body: answer.body,
            });
            return Ok((client, facts, answer));
        }
        Err(Rejection::not_found(format!(
            "no exam with this vurdId in exam system {system}"
        )))
    }
}
