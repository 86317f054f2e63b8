//! `flyt preflight`: an integration engineer's first command against the real test environments
//! (FS-test, WISEflow staging, an Inspera test tenant, Bokbasen stage), before go-live.
//!
//! For each configured institution and system it makes **read-only** calls with the stored
//! credentials and prints, per contract element it can observe, *holds*, *differs* (what it saw,
//! personal data masked) or *not checked* (why). It writes nothing anywhere, and exits non-zero
//! when anything differs. The institutions and credentials come from the stack (the
//! configuration table and the secrets), or from the same JSON in files, so it also runs before
//! anything is deployed.

mod finding;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use flyt::appeals::{format_fs_timestamp, InsperaEventNames, RequestKind};
use flyt::bokbasen::Report;
use flyt::clients::bokbasen::{BokbasenClient, Credentials, PageStart, Settings};
use flyt::clients::fs::FsEnvironment;
use flyt::connections::{Connections, ExamInstance};
use flyt::institution::{ExamSystem, Institution, InstitutionEntry, InstitutionStore};
use flyt::retry::RetryPolicy;
use flyt::{Error, Result};
use serde::de::DeserializeOwned;

use crate::context::Context;
pub use finding::{mask, Finding, Outcome};

/// How far back FS's change lists are read for something to check the exam systems with.
const DEFAULT_DAYS: u32 = 14;

/// `flyt preflight`'s arguments.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// The institutions as a JSON array of configuration entries; without it, the active ones of
    /// the configuration table (--config-table).
    #[arg(long, value_name = "FILE")]
    pub institutions: Option<PathBuf>,
    /// The FS secret's JSON ({"<environment>": {"url", "username", "password"}}); without it,
    /// the secret --fs-secret-id names.
    #[arg(long, value_name = "FILE")]
    pub fs_secret: Option<PathBuf>,
    /// The FS secret in Secrets Manager.
    #[arg(long, env = "FS_SECRET_ID", value_name = "ID")]
    pub fs_secret_id: Option<String>,
    /// The exam-systems secret's JSON; without it, the secret --exam-systems-secret-id names.
    #[arg(long, value_name = "FILE")]
    pub exam_systems_secret: Option<PathBuf>,
    /// The exam-systems secret in Secrets Manager.
    #[arg(long, env = "EXAM_SYSTEMS_SECRET_ID", value_name = "ID")]
    pub exam_systems_secret_id: Option<String>,
    /// The deployment's Inspera event names (the stack parameter InsperaEventNames).
    #[arg(long, env = "INSPERA_EVENT_NAMES", default_value = "")]
    pub inspera_event_names: String,
    /// Bokbasen's API base URL; with the token URL, audience and secret, Bokbasen is checked too.
    #[arg(long, env = "BOKBASEN_API_URL")]
    pub bokbasen_api_url: Option<String>,
    /// Bokbasen's token endpoint.
    #[arg(long, env = "BOKBASEN_TOKEN_URL")]
    pub bokbasen_token_url: Option<String>,
    /// Bokbasen's OAuth2 audience.
    #[arg(
        long,
        env = "BOKBASEN_AUDIENCE",
        default_value = "https://api.bokbasen.io/metadata/"
    )]
    pub bokbasen_audience: String,
    /// The Bokbasen secret's JSON ({"client_id", "client_secret"}); without it,
    /// --bokbasen-secret-id.
    #[arg(long, value_name = "FILE")]
    pub bokbasen_secret: Option<PathBuf>,
    /// The Bokbasen secret in Secrets Manager.
    #[arg(long, env = "BOKBASEN_SECRET_ID", value_name = "ID")]
    pub bokbasen_secret_id: Option<String>,
    /// How many days back FS's change lists are read.
    #[arg(long, default_value_t = DEFAULT_DAYS)]
    pub days: u32,
    /// One JSON document instead of text lines.
    #[arg(long)]
    pub json: bool,
}

/// Runs the checks, prints the report, and fails when an element differs.
pub async fn run(args: PreflightArgs, context: &Context) -> Result<()> {
    let findings = check(&args, context).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&findings).expect("findings serialise")
        );
    } else {
        for finding in &findings {
            println!("{}", finding.line());
        }
        let summary: Vec<String> = tally(&findings)
            .into_iter()
            .map(|(outcome, count)| format!("{count} {outcome}"))
            .collect();
        println!("{}", summary.join(", "));
    }
    let differing = findings.iter().filter(|f| f.differs()).count();
    if differing > 0 {
        return Err(Error::mapping(format!(
            "{differing} of {} contract elements differ from what the systems do: see the lines marked differs",
            findings.len()
        )));
    }
    Ok(())
}

/// Every finding, institution by institution, then the deployment's systems.
pub async fn check(args: &PreflightArgs, context: &Context) -> Result<Vec<Finding>> {
    let names = InsperaEventNames::parse(&args.inspera_event_names)
        .map_err(|why| Error::configuration(format!("--inspera-event-names: {why}")))?;
    let institutions = institutions(args, context).await?;
    let environments: HashMap<String, FsEnvironment> =
        json_of(context, &args.fs_secret, &args.fs_secret_id, "--fs-secret").await?;
    let instances: HashMap<String, ExamInstance> = json_of(
        context,
        &args.exam_systems_secret,
        &args.exam_systems_secret_id,
        "--exam-systems-secret",
    )
    .await?;
    let http = flyt::http::client(Duration::from_secs(20));
    let retry = RetryPolicy::default();
    let connections = Connections::new(
        "--fs-secret",
        "--exam-systems-secret",
        environments,
        instances,
        &http,
        &retry,
    );
    let mut findings = Vec::new();
    let mut inspera_checked = BTreeSet::new();
    for institution in &institutions {
        let seen = fs_findings(&connections, institution, args.days, &mut findings).await;
        match institution.exam_system {
            ExamSystem::Wiseflow => {
                wiseflow_findings(&connections, institution, &seen, &mut findings).await;
            }
            ExamSystem::Inspera => {
                let first = inspera_checked.insert(institution.exam_system_instance.clone());
                inspera_findings(
                    &connections,
                    institution,
                    &seen,
                    &names,
                    first,
                    &mut findings,
                )
                .await;
            }
        }
    }
    findings.push(bokbasen_finding(args, context, &http, &retry).await);
    Ok(findings)
}

/// What FS's lists showed, for the exam systems' checks: a change with its exam, candidate and
/// SIS code.
#[derive(Default)]
struct Seen {
    /// (vurdId, kandidatnr, sisKode) of the changes read.
    changes: Vec<(String, String, String)>,
}

async fn fs_findings(
    connections: &Connections,
    institution: &Institution,
    days: u32,
    findings: &mut Vec<Finding>,
) -> Seen {
    let finding = |element, outcome| Finding::new("fs", &institution.org_id, element, outcome);
    let mut seen = Seen::default();
    let fs = match connections.fs(institution) {
        Ok(fs) => fs,
        Err(error) => {
            findings.push(finding(
                "credentials",
                Outcome::NotChecked(mask(error.message())),
            ));
            return seen;
        }
    };
    let since = format_fs_timestamp(flyt::time::now_ms() - i64::from(days) * 86_400_000);
    let mut times = Vec::new();
    for (kind, element) in [
        (RequestKind::Klage, "GET /eksamen/klager/{examSystem}"),
        (
            RequestKind::Begrunnelse,
            "GET /eksamen/begrunnelse/{examSystem}",
        ),
    ] {
        match fs
            .changes(
                kind,
                institution.exam_system,
                &institution.institusjonsnr,
                &since,
            )
            .await
        {
            Ok(changes) => {
                findings.push(finding(
                    element,
                    Outcome::Holds(format!(
                        "{} changes since {since} parse as the contract's list",
                        changes.len()
                    )),
                ));
                for change in changes {
                    times.extend(change.endret_dato.clone());
                    if let (Some(vurd_id), Some(kandidatnr)) = (change.vurd_id, change.kandidatnr) {
                        seen.changes.push((
                            vurd_id,
                            kandidatnr,
                            change.sis_kode.unwrap_or_default(),
                        ));
                    }
                }
            }
            Err(error) => findings.push(finding(element, Outcome::Differs(mask(error.message())))),
        }
    }
    findings.push(finding("endretDato", finding::change_times(&times)));
    findings.push(finding(
        "GET /eksamen/{examSystem}/{vurdId} karakterskala",
        match seen.changes.first() {
            None => Outcome::NotChecked("no change in the window names an exam".to_owned()),
            Some((vurd_id, _, _)) => grade_scale(fs, institution.exam_system, vurd_id).await,
        },
    ));
    seen
}

/// Whether FS's info on an exam gives its grade scale where the DigEks proxy reads it.
async fn grade_scale(
    fs: &flyt::clients::fs::FsClient,
    system: ExamSystem,
    vurd_id: &str,
) -> Outcome {
    let path = format!("/eksamen/{system}/{vurd_id}");
    match fs.forward(reqwest::Method::GET, &path, &[], None).await {
        Err(error) => Outcome::Differs(mask(error.message())),
        Ok(answer) if answer.status != 200 => {
            Outcome::Differs(format!("the exam info answered {}", answer.status))
        }
        Ok(answer) => {
            let info: serde_json::Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            match info
                .pointer("/karakterskala/karakterer")
                .and_then(serde_json::Value::as_array)
            {
                Some(grades) if !grades.is_empty() => Outcome::Holds(format!(
                    "karakterskala.karakterer holds {} grades",
                    grades.len()
                )),
                _ => Outcome::Differs(format!(
                    "the exam info has no karakterskala.karakterer; its fields are {}: grades for such exams follow digeks_grades_without_scale",
                    info.as_object()
                        .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                        .unwrap_or_else(|| "none (not a JSON object)".to_owned())
                )),
            }
        }
    }
}

async fn wiseflow_findings(
    connections: &Connections,
    institution: &Institution,
    seen: &Seen,
    findings: &mut Vec<Finding>,
) {
    let finding =
        |element, outcome| Finding::new("wiseflow", &institution.org_id, element, outcome);
    let wiseflow = match connections.wiseflow(institution) {
        Ok(wiseflow) => wiseflow,
        Err(error) => {
            findings.push(finding(
                "credentials",
                Outcome::NotChecked(mask(error.message())),
            ));
            return;
        }
    };
    let Some((vurd_id, _, sis_code)) = seen.changes.iter().find(|(_, _, sis)| !sis.is_empty())
    else {
        findings.push(finding(
            "POST /sources/search",
            Outcome::NotChecked("no FS change in the window carries a sisKode".to_owned()),
        ));
        return;
    };
    let flows = match wiseflow.flows_by_sis_code(sis_code).await {
        Err(error) => {
            findings.push(finding(
                "POST /sources/search",
                Outcome::Differs(mask(error.message())),
            ));
            return;
        }
        Ok(flows) if flows.is_empty() => {
            findings.push(finding(
                "POST /sources/search",
                Outcome::Differs(format!(
                    "no flow has the SIS code FS gives exam {vurd_id}, shaped {:?}",
                    finding::shape_of(sis_code)
                )),
            ));
            return;
        }
        Ok(flows) => flows,
    };
    findings.push(finding(
        "POST /sources/search",
        Outcome::Holds(format!(
            "{} flows found by the SIS code FS gives",
            flows.len()
        )),
    ));
    let candidates: BTreeSet<String> = seen
        .changes
        .iter()
        .filter(|(_, _, sis)| sis == sis_code)
        .map(|(_, candidate, _)| candidate.clone())
        .collect();
    let field = institution.wiseflow_candidate_field.clone();
    let outcome = match wiseflow.participants(flows[0].flow_id, &field).await {
        Err(error) => Outcome::Differs(mask(error.message())),
        Ok(participants) => {
            finding::candidate_field(&field.to_string(), &participants, &candidates)
        }
    };
    findings.push(finding(
        "GET /flows/{flowId}/participants candidate field",
        outcome,
    ));
}

async fn inspera_findings(
    connections: &Connections,
    institution: &Institution,
    seen: &Seen,
    names: &InsperaEventNames,
    first_of_instance: bool,
    findings: &mut Vec<Finding>,
) {
    let finding = |element, outcome| Finding::new("inspera", &institution.org_id, element, outcome);
    let inspera = match connections.inspera(&institution.exam_system_instance) {
        Ok(inspera) => inspera,
        Err(error) => {
            findings.push(finding(
                "credentials",
                Outcome::NotChecked(mask(error.message())),
            ));
            return;
        }
    };
    if first_of_instance {
        let configured: Vec<&str> = flyt::appeals::InsperaEventKind::ALL
            .iter()
            .map(|kind| names.name_of(*kind))
            .collect();
        let outcome = match inspera.subscription_events().await {
            Err(error) => Outcome::Differs(mask(error.message())),
            Ok(listed) => finding::event_names(&configured, &listed),
        };
        findings.push(finding("GET /v1/subscription/events", outcome));
    }
    let outcome = match seen.changes.first() {
        None => Outcome::NotChecked("no FS change in the window names an exam".to_owned()),
        Some((vurd_id, _, _)) => match inspera.find_test(vurd_id).await {
            Err(error) => Outcome::Differs(mask(error.message())),
            Ok(None) => Outcome::Differs(format!(
                "no test has the external id FS gives an exam ({:?}); is the exam set up in Inspera from FS?",
                finding::shape_of(vurd_id)
            )),
            Ok(Some(test)) => Outcome::Holds(format!(
                "test {} found by its FS id with isExternal=true",
                test.test_id
            )),
        },
    };
    findings.push(finding("GET /v1/test/{testId}?isExternal=true", outcome));
}

/// Bokbasen is the deployment's: its token and the first page of each report.
async fn bokbasen_finding(
    args: &PreflightArgs,
    context: &Context,
    http: &reqwest::Client,
    retry: &RetryPolicy,
) -> Finding {
    let finding = |outcome| {
        Finding::new(
            "bokbasen",
            "deployment",
            "export reports (first page)",
            outcome,
        )
    };
    let (Some(api_url), Some(token_url)) = (&args.bokbasen_api_url, &args.bokbasen_token_url)
    else {
        return finding(Outcome::NotChecked(
            "no --bokbasen-api-url and --bokbasen-token-url given".to_owned(),
        ));
    };
    let credentials: Credentials = match json_of(
        context,
        &args.bokbasen_secret,
        &args.bokbasen_secret_id,
        "--bokbasen-secret",
    )
    .await
    {
        Ok(credentials) => credentials,
        Err(error) => return finding(Outcome::NotChecked(mask(error.message()))),
    };
    let settings = Settings {
        api_url: api_url.clone(),
        token_url: token_url.clone(),
        audience: args.bokbasen_audience.clone(),
        secret_id: String::new(),
    };
    let client = BokbasenClient::new(http.clone(), settings, credentials, retry.clone());
    let after = chrono::Utc::now() - chrono::Duration::days(1);
    let start = PageStart::After(after.format("%Y%m%d%H%M%S").to_string());
    let mut read = Vec::new();
    for report in Report::ALL {
        match client.export_page(report, &start, 10).await {
            Ok(page) => read.push(format!("{}: {} items", report.as_str(), page.items.len())),
            Err(error) => return finding(Outcome::Differs(mask(error.message()))),
        }
    }
    finding(Outcome::Holds(format!(
        "the token works and the first pages parse ({})",
        read.join(", ")
    )))
}

/// The institutions to check: from the file, or the active entries of the configuration table.
/// An entry that does not check is a Configuration error naming it.
async fn institutions(args: &PreflightArgs, context: &Context) -> Result<Vec<Institution>> {
    if let Some(path) = &args.institutions {
        let entries: Vec<InstitutionEntry> = read_json(path)?;
        return entries.iter().map(InstitutionEntry::check).collect();
    }
    let aws = context.aws().await?;
    let store = InstitutionStore::new(aws.dynamodb.clone(), context.config_table()?);
    store
        .active()
        .await?
        .into_iter()
        .map(|(_, institution)| institution)
        .collect()
}

/// A secret's JSON: from the file when given, or from Secrets Manager by id.
async fn json_of<T: DeserializeOwned>(
    context: &Context,
    file: &Option<PathBuf>,
    secret_id: &Option<String>,
    flag: &str,
) -> Result<T> {
    if let Some(path) = file {
        return read_json(path);
    }
    let Some(id) = secret_id.as_deref().filter(|id| !id.trim().is_empty()) else {
        return Err(Error::configuration(format!(
            "pass {flag} <FILE> or {flag}-id <ID>"
        )));
    };
    let aws = context.aws().await?;
    flyt::secrets::load_json(&aws.secrets, id, "as the stack stores it").await
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::configuration(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::configuration(format!(
            "{} is not the JSON expected: {}",
            path.display(),
            mask(&e.to_string())
        ))
    })
}

/// The findings by outcome, for a summary line.
pub fn tally(findings: &[Finding]) -> BTreeMap<&'static str, usize> {
    let mut tally = BTreeMap::new();
    for finding in findings {
        let key = match finding.outcome {
            Outcome::Holds(_) => "holds",
            Outcome::Differs(_) => "differs",
            Outcome::NotChecked(_) => "not checked",
        };
        *tally.entry(key).or_default() += 1;
    }
    tally
}
