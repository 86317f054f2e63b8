//! The daily digest: for every institution someone opted in to, the day's executions of its
//! interfaces composed by [`flyt::digest::compose`] and sent through SES, one message per
//! recipient (no one sees another's address). Addresses are never logged; what is recorded is how
//! many digests went out and which failed, by institution.
//!
//! Each (institution, day, recipient) is sent once, whoever runs the digest: a marker
//! ([`crate::markers`], keyed by [`flyt::digest::delivery_key`], which holds no address) is taken
//! before the message goes out, so a retried invocation, a scheduler's second delivery or a
//! manual re-run sends only what was not sent, and retries what failed.

use chrono::{NaiveDate, Utc};
use flyt::digest::{compose, Subscriptions};
use flyt::execution::{interfaces_of, Level, LogLine};
use flyt::time::now_ms;
use flyt::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::markers::{State, Taken};
use crate::Watch;

/// `{"digest": {"day": "2026-11-22"}}`; without a day, yesterday (UTC).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct DigestRequest {
    /// The day to report, `yyyy-MM-dd`.
    pub day: Option<NaiveDate>,
}

/// What the digest run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DigestSummary {
    /// The day reported.
    pub day: String,
    /// Institutions with subscribers.
    pub institutions: usize,
    /// Messages sent.
    pub sent: usize,
    /// Messages that could not be sent.
    pub failed: usize,
    /// Messages sent before, by an earlier run for the same day, and not sent again.
    pub already_sent: usize,
}

impl Watch {
    /// Sends the digest of `request.day` to every subscriber.
    pub async fn send_digests(&self, request: &DigestRequest) -> Result<DigestSummary> {
        let day = request
            .day
            .unwrap_or_else(|| Utc::now().date_naive() - chrono::Duration::days(1));
        let start = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis();
        let end = start + 86_400_000;
        let subscriptions =
            Subscriptions::new(self.aws.dynamodb.clone(), &self.config.config_table);
        let mut summary = DigestSummary {
            day: day.to_string(),
            ..DigestSummary::default()
        };
        let mut lines = Vec::new();
        for (org, recipients) in subscriptions.all().await? {
            summary.institutions += 1;
            let mut executions = Vec::new();
            for interface in interfaces_of(&org) {
                for execution in self.executions.list(&interface, 200).await? {
                    if !(start..end).contains(&execution.started_at_ms) {
                        continue;
                    }
                    let first_error = if execution.errors > 0 {
                        self.executions
                            .lines(&execution.id)
                            .await?
                            .into_iter()
                            .find(|l| l.level == Level::Error)
                    } else {
                        None
                    };
                    executions.push((execution, first_error));
                }
            }
            let digest = compose(&org, day, &executions);
            let mut failed = 0;
            for recipient in &recipients {
                let key = flyt::digest::delivery_key(&org, day, recipient);
                if self.markers.take(&key, now_ms()).await? == Taken::Known {
                    summary.already_sent += 1;
                    continue;
                }
                let state = match self.send(recipient, &digest).await {
                    Ok(()) => {
                        summary.sent += 1;
                        State::Sent
                    }
                    Err(error) => {
                        failed += 1;
                        tracing::error!(org, error = %error, "a digest could not be sent");
                        State::Failed
                    }
                };
                self.markers.settle(&key, state, now_ms()).await?;
            }
            summary.failed += failed;
            lines.push(LogLine::info(format!(
                "digest of {org} for {day}: {} executions, {} of {} subscribers have it",
                executions.len(),
                recipients.len() - failed,
                recipients.len()
            )));
            if failed > 0 {
                lines.push(LogLine::error(&Error::external(format!(
                    "the digest of {org} for {day} could not be sent to {failed} subscribers (SES); a digest run for {day} (`{{\"digest\": {{\"day\": \"{day}\"}}}}`) sends it to them, and to no one twice"
                ))));
            }
        }
        let execution_id = self.daily.id().await?;
        self.daily
            .record(
                &execution_id,
                &[
                    ("digests_sent", summary.sent as u64),
                    ("digests_failed", summary.failed as u64),
                    ("digests_already_sent", summary.already_sent as u64),
                ],
                &lines,
            )
            .await?;
        Ok(summary)
    }

    async fn send(&self, recipient: &str, digest: &flyt::digest::Digest) -> Result<()> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .expect("data is set")
        };
        let message = Message::builder()
            .subject(content(&digest.subject))
            .body(Body::builder().text(content(&digest.text)).build())
            .build();
        self.aws
            .ses
            .send_email()
            .from_email_address(&self.config.digest_sender)
            .destination(Destination::builder().to_addresses(recipient).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| flyt::error::aws_error_code_only("SES", "SendEmail", e))?;
        Ok(())
    }
}
