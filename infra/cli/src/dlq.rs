//! `flyt dlq`: the dead-letter queues — which hold messages, what those messages are and why they
//! were parked, and moving them back to their source queue once the cause is fixed.
//!
//! A queue is a dead-letter queue when another listed queue's `RedrivePolicy` names it as its
//! `deadLetterTargetArn`; that rule holds on AWS (CloudFormation's generated names) and locally
//! alike. A message Flyt parked itself carries `flyt-error-category`, `flyt-error-reason` and
//! `flyt-source-queue`; one SQS moved after its source queue's `maxReceiveCount` receives carries
//! none of them. Bodies are ids only (ISBNs, vurdId, kandidatnr, execution ids): Flyt never parks
//! personal data, so showing an excerpt is safe.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use aws_sdk_sqs::error::ProvideErrorMetadata;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, Message, MessageSystemAttributeName,
    QueueAttributeName,
};
use clap::{Args, Subcommand};
use flyt::batch::{ATTR_ERROR_CATEGORY, ATTR_ERROR_REASON, ATTR_SOURCE_QUEUE};
use flyt::error::aws_error;
use flyt::retry::RetryPolicy;
use flyt::sender::{queue_name, Sender};
use flyt::time::rfc3339;
use flyt::{Error, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::context::Context;
use crate::output::{fields, printable};

/// How many characters of a body `peek` shows.
pub const BODY_EXCERPT_CHARS: usize = 200;
/// How long the messages `peek` reads stay hidden should setting their visibility back to 0 right
/// after reading fail.
const PEEK_VISIBILITY_SECONDS: i32 = 30;
/// How often a running message move task is asked for its progress.
const MOVE_TASK_POLL: Duration = Duration::from_secs(1);
/// How long a started message move task may take to show in ListMessageMoveTasks.
const MOVE_TASK_APPEARS: Duration = Duration::from_secs(60);

/// The `dlq` commands.
#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Lists every dead-letter queue with its depth and source queues, those holding messages
    /// first.
    List(ListArgs),
    /// Shows messages of a dead-letter queue — category, reason, source queue, receive count and
    /// the first 200 characters of the body — without taking them out of the queue.
    ///
    /// Each message is received with a 30-second visibility timeout and made visible again right
    /// after, so the queue's depth is unchanged (SQS counts the look as one more receive). Bodies
    /// are ids only: Flyt never parks personal data.
    Peek(PeekArgs),
    /// Moves every message of a dead-letter queue back to its source queue, with a progress bar.
    ///
    /// As on AWS's console ("Start DLQ redrive"), this starts an SQS message move task
    /// (StartMessageMoveTask) and follows it until it completes. The destination is --to, or else
    /// the DLQ's source queue (each of Flyt's DLQs has exactly one), named explicitly so that
    /// messages Flyt parked itself go back too. A message move task sends every message to one
    /// destination: it cannot follow each message's own `flyt-source-queue`. For a DLQ with
    /// several source queues and no --to, SQS returns the messages it dead-lettered itself, each
    /// to the queue it came from, but knows no source for messages Flyt parked: --own-move routes
    /// those by their attribute.
    ///
    /// With --own-move, or when the SQS endpoint has no message move tasks (it answers
    /// UnsupportedOperation or an unknown-operation error code), Flyt moves the messages itself:
    /// receive, send to the queue in the message's `flyt-source-queue` attribute (else to --to,
    /// else to the DLQ's only source queue), delete. A message may then be delivered twice if the
    /// command is interrupted between send and delete; consumers are idempotent.
    ///
    /// Interrupting the command does not stop a message move task: it runs on in SQS (the
    /// console's DLQ redrive page shows it and can cancel it).
    Redrive(RedriveArgs),
}

/// `flyt dlq list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only queues whose name begins with this: the stack name (every queue of a stack begins
    /// with it, on AWS and locally).
    #[arg(long, value_name = "STACK")]
    pub prefix: Option<String>,
}

/// `flyt dlq peek`.
#[derive(Debug, Args)]
pub struct PeekArgs {
    /// The dead-letter queue: its URL, name or ARN (`flyt dlq list` shows the names).
    pub dlq: String,
    /// How many messages to show at most (1 to 100).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub count: u32,
}

/// `flyt dlq redrive`.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// The dead-letter queue: its URL, name or ARN (`flyt dlq list` shows the names).
    pub dlq: String,
    /// The queue to move the messages to (URL, name or ARN) instead of the DLQ's source queue.
    #[arg(long, value_name = "QUEUE")]
    pub to: Option<String>,
    /// Moves the messages with Flyt's own receive-send-delete instead of an SQS message move
    /// task, following each parked message's `flyt-source-queue` attribute.
    #[arg(long)]
    pub own_move: bool,
}

/// Runs a `dlq` command.
pub async fn run(command: DlqCommand, context: &Context) -> Result<()> {
    let sqs = context.aws().await?.sqs;
    match command {
        DlqCommand::List(args) => list(&sqs, args.prefix.as_deref()).await,
        DlqCommand::Peek(args) => peek(&sqs, &args.dlq, args.count).await,
        DlqCommand::Redrive(args) => redrive(&sqs, &args).await,
    }
}

/// A queue with the attributes the commands use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueInfo {
    /// Its URL.
    pub url: String,
    /// Its ARN.
    pub arn: String,
    /// Messages available (ApproximateNumberOfMessages).
    pub visible: u64,
    /// Messages received and not yet deleted (ApproximateNumberOfMessagesNotVisible).
    pub in_flight: u64,
    /// The ARN of its dead-letter queue, from its RedrivePolicy.
    pub dead_letter_target: Option<String>,
}

impl QueueInfo {
    /// A queue from its URL and its attributes as GetQueueAttributes returns them.
    pub fn from_attributes(url: &str, attributes: &HashMap<QueueAttributeName, String>) -> Self {
        let count = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        QueueInfo {
            url: url.to_owned(),
            arn: attributes
                .get(&QueueAttributeName::QueueArn)
                .cloned()
                .unwrap_or_default(),
            visible: count(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            dead_letter_target: attributes
                .get(&QueueAttributeName::RedrivePolicy)
                .and_then(|policy| dead_letter_target(policy)),
        }
    }

    /// Its name (the last part of its URL).
    pub fn name(&self) -> &str {
        queue_name(&self.url)
    }

    /// Messages in it: available plus in flight.
    pub fn depth(&self) -> u64 {
        self.visible + self.in_flight
    }
}

/// A dead-letter queue and the queues that send it their failures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// The queue itself.
    pub queue: QueueInfo,
    /// Names of the queues whose RedrivePolicy names it, sorted.
    pub sources: Vec<String>,
}

/// The `deadLetterTargetArn` of a RedrivePolicy (a JSON document); `None` when it names none.
pub fn dead_letter_target(redrive_policy: &str) -> Option<String> {
    let policy: serde_json::Value = serde_json::from_str(redrive_policy).ok()?;
    policy["deadLetterTargetArn"]
        .as_str()
        .filter(|arn| !arn.is_empty())
        .map(str::to_owned)
}

/// The dead-letter queues among `queues` — those another of them names as its
/// `deadLetterTargetArn` — those holding messages first (deepest first), then by name.
pub fn dead_letter_queues(queues: &[QueueInfo]) -> Vec<DeadLetterQueue> {
    let mut found: Vec<DeadLetterQueue> = queues
        .iter()
        .filter_map(|queue| {
            let mut sources: Vec<String> = queues
                .iter()
                .filter(|s| s.dead_letter_target.as_deref() == Some(queue.arn.as_str()))
                .map(|s| s.name().to_owned())
                .collect();
            sources.sort();
            (!queue.arn.is_empty() && !sources.is_empty()).then(|| DeadLetterQueue {
                queue: queue.clone(),
                sources,
            })
        })
        .collect();
    found.sort_by(|a, b| {
        let (a_depth, b_depth) = (a.queue.depth(), b.queue.depth());
        (b_depth > 0)
            .cmp(&(a_depth > 0))
            .then(b_depth.cmp(&a_depth))
            .then_with(|| a.queue.name().cmp(b.queue.name()))
    });
    found
}

/// The `list` table: one dead-letter queue a line, then a summary line.
pub fn list_table(queues: &[DeadLetterQueue]) -> String {
    if queues.is_empty() {
        return "no dead-letter queues found\n".to_owned();
    }
    let header = [
        "dead-letter queue",
        "messages",
        "in flight",
        "source queues",
    ];
    let rows: Vec<[String; 4]> = queues
        .iter()
        .map(|dlq| {
            [
                dlq.queue.name().to_owned(),
                dlq.queue.depth().to_string(),
                dlq.queue.in_flight.to_string(),
                dlq.sources.join(", "),
            ]
        })
        .collect();
    let width = |column: usize| {
        rows.iter()
            .map(|row| row[column].chars().count())
            .chain([header[column].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let (name, messages, in_flight) = (width(0), width(1), width(2));
    let line = |cells: [&str; 4]| {
        format!(
            "{:<name$}  {:>messages$}  {:>in_flight$}  {}\n",
            cells[0], cells[1], cells[2], cells[3]
        )
    };
    let mut table = line(header);
    for row in &rows {
        table.push_str(&line([&row[0], &row[1], &row[2], &row[3]]));
    }
    let holding: Vec<_> = queues.iter().filter(|q| q.queue.depth() > 0).collect();
    let total: u64 = holding.iter().map(|q| q.queue.depth()).sum();
    table.push_str(&format!(
        "{} dead-letter queues, {} holding messages ({total} in all)\n",
        queues.len(),
        holding.len()
    ));
    table
}

/// "1 message", "3 messages".
pub fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".to_owned()
    } else {
        format!("{n} messages")
    }
}

/// One progress step as a line: "moved 3 of 10 messages (30%)".
pub fn progress_line(moved: u64, total: u64) -> String {
    let total = total.max(moved);
    let percent = (moved * 100).checked_div(total).unwrap_or(100);
    format!("moved {moved} of {} ({percent}%)", messages(total))
}

/// Whether an error code says the endpoint has no such operation (an emulator without message
/// move tasks), as opposed to refusing this request. SQS's JSON protocol may prefix codes with
/// `AWS.SimpleQueueService.`.
pub fn is_unsupported_operation(code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    let code = code.rsplit(['.', '#']).next().unwrap_or(code);
    matches!(
        code,
        "UnsupportedOperation"
            | "UnknownOperationException"
            | "UnknownOperation"
            | "InvalidAction"
            | "NotImplemented"
    )
}

/// At most `max_chars` characters of a body on one line (line breaks and other control
/// characters shown as spaces), with how long it was when cut.
pub fn excerpt(body: &str, max_chars: usize) -> String {
    let length = body.chars().count();
    let shown = printable(&body.chars().take(max_chars).collect::<String>());
    if length > max_chars {
        format!("{shown}… ({length} characters)")
    } else {
        shown
    }
}

/// How a queue was named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueRef {
    /// By URL.
    Url(String),
    /// By name (an ARN is reduced to its name).
    Name(String),
}

/// Reads a queue given as URL, ARN or name.
pub fn queue_ref(value: &str) -> QueueRef {
    let value = value.trim();
    if value.starts_with("https://") || value.starts_with("http://") {
        QueueRef::Url(value.to_owned())
    } else if value.starts_with("arn:") {
        QueueRef::Name(value.rsplit(':').next().unwrap_or(value).to_owned())
    } else {
        QueueRef::Name(value.to_owned())
    }
}

/// Draws progress: a bar when stdout is a terminal, else one line per step that changed.
struct Progress {
    bar: Option<ProgressBar>,
    last: Option<(u64, u64)>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:40.cyan/blue} {pos}/{len} messages ({percent}%) {elapsed}",
                )
                .expect("the template is valid")
                .progress_chars("=> "),
            );
            bar
        });
        let mut progress = Progress { bar, last: None };
        progress.update(0, total);
        progress
    }

    fn update(&mut self, moved: u64, total: u64) {
        let total = total.max(moved);
        match &self.bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(moved);
            }
            None if self.last != Some((moved, total)) => {
                println!("{}", progress_line(moved, total))
            }
            None => {}
        }
        self.last = Some((moved, total));
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

async fn list(sqs: &aws_sdk_sqs::Client, prefix: Option<&str>) -> Result<()> {
    let mut urls = Vec::new();
    let mut next_token = None;
    loop {
        let output = sqs
            .list_queues()
            .set_queue_name_prefix(prefix.map(str::to_owned))
            .max_results(1000)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| aws_error("SQS", "ListQueues", e))?;
        urls.extend(output.queue_urls().iter().cloned());
        next_token = output.next_token().map(str::to_owned);
        if next_token.is_none() {
            break;
        }
    }
    let mut queues = Vec::new();
    for url in &urls {
        // A queue deleted since it was listed is left out.
        if let Some(queue) = existing(sqs, url).await? {
            queues.push(queue);
        }
    }
    print!("{}", list_table(&dead_letter_queues(&queues)));
    Ok(())
}

/// The queue at `url` with its attributes; `None` when there is no such queue.
async fn existing(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Option<QueueInfo>> {
    match sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
    {
        Ok(output) => Ok(Some(QueueInfo::from_attributes(
            url,
            output.attributes().unwrap_or(&HashMap::new()),
        ))),
        Err(error) if is_no_such_queue(error.code()) => Ok(None),
        Err(error) => Err(aws_error("SQS", "GetQueueAttributes", error)),
    }
}

/// The queue at `url` with its attributes; an error saying so when there is no such queue.
async fn attributes(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<QueueInfo> {
    existing(sqs, url)
        .await?
        .ok_or_else(|| no_such_queue(queue_name(url)))
}

/// The queue named on the command line, with its attributes.
async fn resolve(sqs: &aws_sdk_sqs::Client, value: &str) -> Result<QueueInfo> {
    let url = match queue_ref(value) {
        QueueRef::Url(url) => url,
        QueueRef::Name(name) => sqs
            .get_queue_url()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| {
                if is_no_such_queue(e.code()) {
                    no_such_queue(&name)
                } else {
                    aws_error("SQS", "GetQueueUrl", e)
                }
            })?
            .queue_url()
            .unwrap_or_default()
            .to_owned(),
    };
    attributes(sqs, &url).await
}

fn is_no_such_queue(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist"))
}

fn no_such_queue(queue: &str) -> Error {
    Error::configuration(format!(
        "queue {queue}: no such queue (`flyt dlq list --prefix <STACK>` lists the dead-letter \
         queues)"
    ))
}

/// URLs of the queues whose RedrivePolicy names the dead-letter queue.
async fn source_queues(sqs: &aws_sdk_sqs::Client, dlq_url: &str) -> Result<Vec<String>> {
    let mut urls = Vec::new();
    let mut next_token = None;
    loop {
        let output = sqs
            .list_dead_letter_source_queues()
            .queue_url(dlq_url)
            .max_results(1000)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| aws_error("SQS", "ListDeadLetterSourceQueues", e))?;
        urls.extend(output.queue_urls().iter().cloned());
        next_token = output.next_token().map(str::to_owned);
        if next_token.is_none() {
            return Ok(urls);
        }
    }
}

async fn peek(sqs: &aws_sdk_sqs::Client, dlq: &str, count: u32) -> Result<()> {
    let queue = resolve(sqs, dlq).await?;
    let sources: Vec<String> = source_queues(sqs, &queue.url)
        .await?
        .iter()
        .map(|url| queue_name(url).to_owned())
        .collect();
    let mut peeked = Vec::new();
    let received = receive_up_to(sqs, &queue.url, count as usize, &mut peeked).await;
    let released = make_visible(sqs, &queue.url, &peeked).await;
    received?;
    released?;
    println!(
        "{}: {} ({} in flight), showing {}; each is back in the queue",
        queue.name(),
        messages(queue.depth()),
        queue.in_flight,
        peeked.len()
    );
    for (i, message) in peeked.iter().enumerate() {
        println!();
        println!("message {} of {}", i + 1, peeked.len());
        print!("{}", describe(message, &sources));
    }
    Ok(())
}

async fn receive_up_to(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    count: usize,
    messages: &mut Vec<Message>,
) -> Result<()> {
    while messages.len() < count {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages((count - messages.len()).min(10) as i32)
            .visibility_timeout(PEEK_VISIBILITY_SECONDS)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|e| aws_error("SQS", "ReceiveMessage", e))?;
        let received = output.messages.unwrap_or_default();
        if received.is_empty() {
            break;
        }
        messages.extend(received);
    }
    Ok(())
}

/// Sets the messages' visibility timeout back to 0, so they are in the queue as before.
async fn make_visible(sqs: &aws_sdk_sqs::Client, url: &str, messages: &[Message]) -> Result<()> {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, message)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(format!("m{i}"))
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .visibility_timeout(0)
                    .build()
                    .expect("id and receipt handle are set")
            })
            .collect();
        let output = sqs
            .change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| aws_error("SQS", "ChangeMessageVisibilityBatch", e))?;
        if !output.failed().is_empty() {
            return Err(Error::external(format!(
                "{} messages could not be made visible again; they return to {} by themselves \
                 within {PEEK_VISIBILITY_SECONDS} s",
                output.failed().len(),
                queue_name(url)
            )));
        }
    }
    Ok(())
}

/// One peeked message as label-value lines.
fn describe(message: &Message, dlq_sources: &[String]) -> String {
    let attribute = |name: &str| {
        message
            .message_attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.string_value())
    };
    let system = |name: MessageSystemAttributeName| {
        message
            .attributes()
            .and_then(|a| a.get(&name))
            .map(String::as_str)
    };
    let moved_by_sqs = "none: moved here by SQS after its source queue's maxReceiveCount receives";
    let source = match attribute(ATTR_SOURCE_QUEUE) {
        Some(url) => queue_name(url).to_owned(),
        None if dlq_sources.is_empty() => "unknown: the queue is no queue's DLQ".to_owned(),
        None => format!("{} (the DLQ's source)", dlq_sources.join(", ")),
    };
    let sent = system(MessageSystemAttributeName::SentTimestamp)
        .and_then(|ms| ms.parse::<i64>().ok())
        .map(rfc3339)
        .unwrap_or_else(|| "unknown".to_owned());
    let receives = system(MessageSystemAttributeName::ApproximateReceiveCount)
        .map(|n| format!("{n} (this look included)"))
        .unwrap_or_else(|| "unknown".to_owned());
    fields(&[
        ("id", message.message_id().unwrap_or_default().to_owned()),
        (
            "category",
            attribute(ATTR_ERROR_CATEGORY)
                .unwrap_or(moved_by_sqs)
                .to_owned(),
        ),
        (
            "reason",
            attribute(ATTR_ERROR_REASON)
                .map(|r| excerpt(r, 1000))
                .unwrap_or_else(|| "none recorded".to_owned()),
        ),
        ("source queue", source),
        ("receive count", receives),
        ("sent", sent),
        (
            "body",
            excerpt(message.body().unwrap_or_default(), BODY_EXCERPT_CHARS),
        ),
    ])
}

/// Why a message move task did not move the messages.
enum MoveTaskError {
    /// The endpoint has no message move tasks; the error code it answered.
    Unsupported(String),
    /// Any other failure.
    Failed(Error),
}

async fn redrive(sqs: &aws_sdk_sqs::Client, args: &RedriveArgs) -> Result<()> {
    let dlq = resolve(sqs, &args.dlq).await?;
    let to = match &args.to {
        Some(to) => Some(resolve(sqs, to).await?),
        None => None,
    };
    if dlq.depth() == 0 {
        println!("{} holds no messages: nothing to move", dlq.name());
        return Ok(());
    }
    if dlq.in_flight > 0 {
        eprintln!(
            "Note: {} of the messages are in flight (being looked at) and are not moved now; run \
             the command again once they are back.",
            dlq.in_flight
        );
    }
    let moved = if args.own_move {
        own_move(sqs, &dlq, to.as_ref()).await?
    } else {
        match move_task(sqs, &dlq, to.as_ref()).await {
            Ok(moved) => moved,
            Err(MoveTaskError::Unsupported(code)) => {
                eprintln!(
                    "The SQS endpoint has no message move tasks (StartMessageMoveTask answered \
                     {code}): Flyt moves the messages itself."
                );
                own_move(sqs, &dlq, to.as_ref()).await?
            }
            Err(MoveTaskError::Failed(error)) => return Err(error),
        }
    };
    let left = attributes(sqs, &dlq.url).await?.depth();
    println!("{moved}; {} now holds {}", dlq.name(), messages(left));
    Ok(())
}

/// Moves the messages with an SQS message move task and follows it; what was moved, as a
/// sentence.
async fn move_task(
    sqs: &aws_sdk_sqs::Client,
    dlq: &QueueInfo,
    to: Option<&QueueInfo>,
) -> std::result::Result<String, MoveTaskError> {
    let (destination_arn, destination) = match to {
        Some(queue) => (Some(queue.arn.clone()), queue.name().to_owned()),
        None => {
            let sources = source_queues(sqs, &dlq.url)
                .await
                .map_err(MoveTaskError::Failed)?;
            match sources.as_slice() {
                [] => {
                    return Err(MoveTaskError::Failed(Error::configuration(format!(
                        "{} is no queue's dead-letter queue: pass --to <QUEUE>",
                        dlq.name()
                    ))))
                }
                [source] => {
                    let source = attributes(sqs, source)
                        .await
                        .map_err(MoveTaskError::Failed)?;
                    (Some(source.arn.clone()), source.name().to_owned())
                }
                several => {
                    eprintln!(
                        "Note: {} has {} source queues; SQS returns each message it moved there \
                         itself to its own source, and cannot route messages Flyt parked (use \
                         --own-move for those).",
                        dlq.name(),
                        several.len()
                    );
                    (None, "their source queues".to_owned())
                }
            }
        }
    };
    // The most recent task before this one: a finished task lists without its handle, so ours is
    // told from it by its start time.
    let previous = match sqs
        .list_message_move_tasks()
        .source_arn(&dlq.arn)
        .max_results(1)
        .send()
        .await
    {
        Ok(output) => output.results().first().map(|t| t.started_timestamp()),
        Err(error) if is_unsupported_operation(error.code()) => {
            return Err(MoveTaskError::Unsupported(
                error.code().unwrap_or_default().to_owned(),
            ))
        }
        Err(error) => {
            return Err(MoveTaskError::Failed(aws_error(
                "SQS",
                "ListMessageMoveTasks",
                error,
            )))
        }
    };
    let started = sqs
        .start_message_move_task()
        .source_arn(&dlq.arn)
        .set_destination_arn(destination_arn)
        .send()
        .await;
    let handle = match started {
        Ok(output) => output.task_handle().unwrap_or_default().to_owned(),
        Err(error) if is_unsupported_operation(error.code()) => {
            return Err(MoveTaskError::Unsupported(
                error.code().unwrap_or_default().to_owned(),
            ))
        }
        Err(error) => {
            return Err(MoveTaskError::Failed(aws_error(
                "SQS",
                "StartMessageMoveTask",
                error,
            )))
        }
    };
    println!(
        "moving the messages of {} to {destination} (SQS message move task)",
        dlq.name()
    );
    let mut progress = Progress::new(dlq.visible);
    let outcome = follow(sqs, dlq, &handle, previous, &mut progress).await;
    progress.finish();
    let moved = outcome.map_err(MoveTaskError::Failed)?;
    Ok(format!(
        "moved {} from {} to {destination}",
        messages(moved),
        dlq.name()
    ))
}

/// Polls the task until it ends; how many messages it moved. `previous` is the start time of the
/// DLQ's most recent task before this one.
async fn follow(
    sqs: &aws_sdk_sqs::Client,
    dlq: &QueueInfo,
    handle: &str,
    previous: Option<i64>,
    progress: &mut Progress,
) -> Result<u64> {
    let started = std::time::Instant::now();
    loop {
        let output = sqs
            .list_message_move_tasks()
            .source_arn(&dlq.arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| aws_error("SQS", "ListMessageMoveTasks", e))?;
        let latest = output
            .results()
            .first()
            .filter(|task| match task.task_handle() {
                Some(listed) => listed == handle,
                None => previous.is_none_or(|p| task.started_timestamp() > p),
            });
        if latest.is_none() && started.elapsed() > MOVE_TASK_APPEARS {
            return Err(Error::external(format!(
                "the message move task started on {} does not show in ListMessageMoveTasks; \
                 follow it in the console",
                dlq.name()
            )));
        }
        if let Some(task) = latest {
            let moved = task.approximate_number_of_messages_moved().max(0) as u64;
            let to_move = task
                .approximate_number_of_messages_to_move()
                .map_or(dlq.visible, |n| n.max(0) as u64);
            progress.update(moved, to_move);
            match task.status() {
                Some("COMPLETED") => return Ok(moved),
                Some("FAILED") => {
                    return Err(Error::external(format!(
                        "the message move task failed after moving {moved} messages: {}",
                        task.failure_reason().unwrap_or("no reason given")
                    )))
                }
                Some(status @ ("CANCELLING" | "CANCELLED")) => {
                    return Err(Error::external(format!(
                        "the message move task was cancelled ({status}) after moving {moved} \
                         messages"
                    )))
                }
                _ => {}
            }
        }
        tokio::time::sleep(MOVE_TASK_POLL).await;
    }
}

/// Moves the messages with Flyt's own receive-send-delete; what was moved, as a sentence.
async fn own_move(
    sqs: &aws_sdk_sqs::Client,
    dlq: &QueueInfo,
    to: Option<&QueueInfo>,
) -> Result<String> {
    println!(
        "moving the messages of {} to their source queue (Flyt's own move)",
        dlq.name()
    );
    let sender = Sender::new(sqs.clone(), RetryPolicy::default(), 2);
    let mut progress = Progress::new(dlq.visible);
    let report = flyt::redrive::redrive(sqs, &sender, &dlq.url, to.map(|q| q.url.as_str()), |n| {
        progress.update(n as u64, dlq.visible)
    })
    .await;
    progress.finish();
    let report = report?;
    let destinations: Vec<String> = report
        .moved
        .iter()
        .map(|(url, n)| format!("{n} to {}", queue_name(url)))
        .collect();
    Ok(format!(
        "moved {} from {} ({})",
        messages(report.total() as u64),
        dlq.name(),
        destinations.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(name: &str, visible: u64, in_flight: u64, dlq: Option<&str>) -> QueueInfo {
        QueueInfo {
            url: format!("http://127.0.0.1:1/123456789012/{name}"),
            arn: format!("arn:aws:sqs:eu-north-1:123456789012:{name}"),
            visible,
            in_flight,
            dead_letter_target: dlq.map(|d| format!("arn:aws:sqs:eu-north-1:123456789012:{d}")),
        }
    }

    #[test]
    fn the_dead_letter_target_comes_from_the_redrive_policy() {
        assert_eq!(
            dead_letter_target(
                r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-north-1:1:s-AlmaDlq","maxReceiveCount":5}"#
            )
            .as_deref(),
            Some("arn:aws:sqs:eu-north-1:1:s-AlmaDlq")
        );
        for policy in ["", "{}", "not json", r#"{"deadLetterTargetArn":""}"#] {
            assert_eq!(dead_letter_target(policy), None, "{policy:?}");
        }
    }

    #[test]
    fn attributes_become_a_queue() {
        let attributes = HashMap::from([
            (
                QueueAttributeName::QueueArn,
                "arn:aws:sqs:eu-north-1:1:s-AlmaQueue".to_owned(),
            ),
            (QueueAttributeName::ApproximateNumberOfMessages, "4".to_owned()),
            (
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                "2".to_owned(),
            ),
            (
                QueueAttributeName::RedrivePolicy,
                r#"{"deadLetterTargetArn":"arn:aws:sqs:eu-north-1:1:s-AlmaDlq","maxReceiveCount":"5"}"#
                    .to_owned(),
            ),
        ]);
        let queue = QueueInfo::from_attributes("http://h/1/s-AlmaQueue", &attributes);
        assert_eq!(queue.name(), "s-AlmaQueue");
        assert_eq!((queue.visible, queue.in_flight, queue.depth()), (4, 2, 6));
        assert_eq!(
            queue.dead_letter_target.as_deref(),
            Some("arn:aws:sqs:eu-north-1:1:s-AlmaDlq")
        );
    }

    #[test]
    fn a_queue_is_a_dlq_when_another_names_it_and_non_empty_ones_come_first() {
        let queues = [
            queue("s-AlmaQueue", 0, 0, Some("s-AlmaDlq")),
            queue("s-AlmaDlq", 0, 0, None),
            queue("s-DispatchQueue", 9, 0, Some("s-DispatchDlq")),
            queue("s-DispatchDlq", 2, 1, None),
            queue("s-ReturnQueue", 0, 0, Some("s-ReturnDlq")),
            queue("s-ReturnDlq", 7, 0, None),
            queue("s-ThesisQueue", 0, 0, Some("s-ThesisDlq")),
            queue("s-ThesisExtraQueue", 0, 0, Some("s-ThesisDlq")),
            queue("s-ThesisDlq", 0, 0, None),
            queue("s-Unrelated", 5, 0, None),
            queue("s-Elsewhere", 0, 0, Some("other-stack-Dlq")),
        ];
        let found = dead_letter_queues(&queues);
        let names: Vec<_> = found.iter().map(|d| d.queue.name()).collect();
        assert_eq!(
            names,
            ["s-ReturnDlq", "s-DispatchDlq", "s-AlmaDlq", "s-ThesisDlq"]
        );
        assert_eq!(found[1].sources, ["s-DispatchQueue"]);
        assert_eq!(found[3].sources, ["s-ThesisExtraQueue", "s-ThesisQueue"]);
        assert_eq!(found[1].queue.depth(), 3);
        assert!(dead_letter_queues(&[queue("s-Dlq", 3, 0, None)]).is_empty());
    }

    #[test]
    fn the_list_table_aligns_columns_and_sums_up() {
        let queues = [
            queue("s-AlmaQueue", 0, 0, Some("s-AlmaDlq")),
            queue("s-AlmaDlq", 0, 0, None),
            queue("s-ReturnQueue", 0, 0, Some("s-ReturnDlq")),
            queue("s-ReturnDlq", 12, 1, None),
        ];
        assert_eq!(
            list_table(&dead_letter_queues(&queues)),
            "dead-letter queue  messages  in flight  source queues\n\
             s-ReturnDlq              13          1  s-ReturnQueue\n\
             s-AlmaDlq                 0          0  s-AlmaQueue\n\
             2 dead-letter queues, 1 holding messages (13 in all)\n"
        );
        assert_eq!(list_table(&[]), "no dead-letter queues found\n");
    }

    #[test]
    fn progress_lines_count_and_give_the_share() {
        assert_eq!(progress_line(0, 10), "moved 0 of 10 messages (0%)");
        assert_eq!(progress_line(3, 10), "moved 3 of 10 messages (30%)");
        assert_eq!(progress_line(10, 10), "moved 10 of 10 messages (100%)");
        assert_eq!(progress_line(12, 10), "moved 12 of 12 messages (100%)");
        assert_eq!(progress_line(0, 0), "moved 0 of 0 messages (100%)");
        assert_eq!(progress_line(2, 3), "moved 2 of 3 messages (66%)");
        assert_eq!(progress_line(1, 1), "moved 1 of 1 message (100%)");
    }

    #[test]
    fn only_unknown_operation_codes_fall_back_to_the_own_move() {
        for code in [
            "UnsupportedOperation",
            "AWS.SimpleQueueService.UnsupportedOperation",
            "UnknownOperationException",
            "com.amazonaws.sqs#UnknownOperationException",
            "InvalidAction",
            "NotImplemented",
        ] {
            assert!(is_unsupported_operation(Some(code)), "{code}");
        }
        for code in [
            None,
            Some("InvalidParameterValue"),
            Some("ResourceNotFoundException"),
            Some("AccessDenied"),
            Some("RequestThrottled"),
            Some(""),
        ] {
            assert!(!is_unsupported_operation(code), "{code:?}");
        }
    }

    #[test]
    fn excerpts_keep_one_line_and_say_when_cut() {
        assert_eq!(excerpt("{\"isbn\":\"978\"}", 200), "{\"isbn\":\"978\"}");
        assert_eq!(excerpt("a\nb\tc", 200), "a b c");
        let long = "é".repeat(250);
        assert_eq!(
            excerpt(&long, 200),
            format!("{}… (250 characters)", "é".repeat(200))
        );
    }

    #[test]
    fn queues_are_named_by_url_arn_or_name() {
        assert_eq!(
            queue_ref("http://127.0.0.1:5000/123456789012/s-AlmaDlq"),
            QueueRef::Url("http://127.0.0.1:5000/123456789012/s-AlmaDlq".to_owned())
        );
        assert_eq!(
            queue_ref("arn:aws:sqs:eu-north-1:123456789012:s-AlmaDlq"),
            QueueRef::Name("s-AlmaDlq".to_owned())
        );
        assert_eq!(
            queue_ref(" s-AlmaDlq "),
            QueueRef::Name("s-AlmaDlq".to_owned())
        );
    }
}
