//! The sandbox: real HTTP servers on 127.0.0.1 that play Bokbasen, Alma and
//! FS (the student system's DigEks exam API), with seeded data, switchable
//! faults and state that tests can inspect.
//!
//! Start it in-process with [`Sandbox::start`] and point clients at
//! [`Sandbox::bokbasen_url`], [`Sandbox::alma_url`] and [`Sandbox::fs_url`];
//! inspect and steer it through [`Sandbox::bokbasen`], [`Sandbox::alma`] and
//! [`Sandbox::fs`]. WISEflow ([`Sandbox::wiseflow_url`],
//! [`Sandbox::wiseflow`]) serves flows derived from FS's exams, and Inspera
//! ([`Sandbox::inspera_url`], [`Sandbox::inspera`]) tests derived from them,
//! with signed webhooks. Both exam systems also hold master theses with
//! their files ([`SandboxThesis`], generated in one place for both). Slack
//! ([`Sandbox::slack_url`], [`Sandbox::slack`]) is one incoming webhook that
//! records the messages posted to it. The identity provider ([`Sandbox::idp_url`],
//! [`Sandbox::idp`]) plays Feide's OpenID Connect for the log overview, with synthetic test
//! users. The `flyt-sandbox`
//! binary runs the same servers as a separate process, steered over
//! `/_sandbox/*` HTTP routes instead.

mod admin;
mod alma;
mod bokbasen;
mod catalog;
mod contract;
mod faults;
mod fs;
mod idp;
mod inspera;
mod isbn;
mod slack;
mod theses;
mod wiseflow;

use std::net::Ipv4Addr;
use std::sync::Arc;

use tokio::net::TcpListener;

use contract::{ContractCheck, ContractLog};
use tokio::task::JoinHandle;

pub use alma::{AlmaRecord, AlmaState};
pub use bokbasen::{BokbasenState, ExportItem, Report};
pub use contract::{Side, Violation};
pub use faults::Faults;
pub use fs::{
    AppealStatus, AttendanceStatus, Decision, FsAppeal, FsCandidate, FsExam, FsExplanationRequest,
    FsGradeScale, FsInstitution, FsState, RegisteredAttendance, RegisteredDecision,
    RegisteredExplanation, RegisteredGrade, RegisteredGroupId,
};
pub use idp::{default_idp_users, IdpState, IdpUser, CODE_TTL, EPPN_CLAIM, ID_TOKEN_TTL};
pub use inspera::{
    InsperaAppeal, InsperaAppealStatus, InsperaDecision, InsperaDeliveryOutcome,
    InsperaExplanation, InsperaExplanationStatus, InsperaOutcome, InsperaRequestCount,
    InsperaState, InsperaTest, InsperaWebhookDelivery, INSPERA_EXPLANATIONS_OPTION,
};
pub use slack::{SlackMessage, SlackState, SLACK_WEBHOOK_PATH};
pub use theses::{
    SandboxThesis, SandboxThesisFile, ThesisAccess, ThesisCase, ThesisGrading,
    THESIS_EMBARGO_UNTIL, THESIS_LARGE_FILE_BYTES,
};
pub use wiseflow::{
    WiseflowExplanation, WiseflowFlow, WiseflowReassessment, WiseflowState, EXPLANATION_ACCEPTED,
};

/// What to seed and which credentials the simulated systems accept.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// Number of seeded changes in the objects report.
    pub objects: usize,
    /// Number of seeded changes in the descriptions report.
    pub descriptions: usize,
    /// Seed for the data generator and the fault draws.
    pub seed: u64,
    /// OAuth client id Bokbasen accepts.
    pub bokbasen_client_id: String,
    /// OAuth client secret Bokbasen accepts.
    pub bokbasen_client_secret: String,
    /// API key Alma accepts (`Authorization: apikey <key>`).
    pub alma_api_key: String,
    /// Alma requests allowed per wall-clock second before 429.
    pub alma_per_second_limit: u32,
    /// User name FS accepts in HTTP Basic auth.
    pub fs_username: String,
    /// Password FS accepts in HTTP Basic auth.
    pub fs_password: String,
    /// Institutions FS serves, each with the exam system it uses.
    pub institutions: Vec<FsInstitution>,
    /// Seeded appeals per institution; about a tenth of them are also
    /// withdrawn later, which adds one change each.
    pub appeals_per_institution: usize,
    /// Seeded explanation requests per institution.
    pub explanations_per_institution: usize,
    /// API key WISEflow accepts (`x-api-key`).
    pub wiseflow_api_key: String,
    /// OAuth2 client id WISEflow's token route accepts.
    pub wiseflow_client_id: String,
    /// OAuth2 client secret WISEflow's token route accepts.
    pub wiseflow_client_secret: String,
    /// Client id Inspera's token route accepts (`client_id=`).
    pub inspera_client_id: String,
    /// API key Inspera's token route accepts (header `code`).
    pub inspera_api_key: String,
    /// Lifetime of an Inspera access token, in seconds.
    pub inspera_token_ttl_secs: u64,
    /// Wait between attempts to deliver an Inspera webhook, in milliseconds.
    pub inspera_webhook_retry_delay_ms: u64,
    /// Master theses per institution, in its exam system (WISEflow or
    /// Inspera). Positions 0–8 hold the special cases of [`ThesisCase`].
    pub theses_per_institution: usize,
    /// Grades of the theses given after they were generated (an ungraded
    /// thesis's, a WISEflow reassessment's): keep a clone to grade one.
    pub thesis_grading: ThesisGrading,
    /// Whether FS also holds an open appeal (`AKTIV`) of the first
    /// [`ThesisCase::Ordinary`] thesis of every WISEflow institution, so that
    /// thesis is held back from the archive until WISEflow grades the
    /// reassessment. Off by default (FS's seeded lists stay as they are);
    /// `flyt-local run` turns it on. (Inspera's sandbox would list a thesis
    /// exam appealed in FS as a second test with the same external id.)
    pub thesis_appeals: bool,
    /// The OpenID Connect client id the identity provider knows (the log overview).
    pub idp_client_id: String,
    /// That client's secret.
    pub idp_client_secret: String,
    /// The identity provider's test users.
    pub idp_users: Vec<IdpUser>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            objects: 1200,
            descriptions: 1000,
            seed: 7,
            bokbasen_client_id: "flyt-local".to_owned(),
            bokbasen_client_secret: "local-secret".to_owned(),
            alma_api_key: "local-alma-key".to_owned(),
            alma_per_second_limit: 500,
            fs_username: "flyt-local".to_owned(),
            fs_password: "local-fs-password".to_owned(),
            institutions: vec![
                FsInstitution::new("185", "INSPERA"),
                FsInstitution::new("194", "WISEFLOW"),
            ],
            appeals_per_institution: 120,
            explanations_per_institution: 110,
            wiseflow_api_key: "local-wiseflow-key".to_owned(),
            wiseflow_client_id: "flyt-local".to_owned(),
            wiseflow_client_secret: "local-wiseflow-secret".to_owned(),
            inspera_client_id: "uio".to_owned(),
            inspera_api_key: "local-inspera-key".to_owned(),
            inspera_token_ttl_secs: 3600,
            inspera_webhook_retry_delay_ms: 500,
            theses_per_institution: 14,
            thesis_grading: ThesisGrading::default(),
            thesis_appeals: false,
            idp_client_id: "flyt-log-overview".to_owned(),
            idp_client_secret: "local-idp-client-secret".to_owned(),
            idp_users: default_idp_users(),
        }
    }
}

/// The ports [`Sandbox::start_with_ports`] listens on, each on 127.0.0.1;
/// 0 picks a free one.
#[derive(Clone, Copy, Debug, Default)]
pub struct SandboxPorts {
    /// Bokbasen's port.
    pub bokbasen: u16,
    /// Alma's port.
    pub alma: u16,
    /// FS's port.
    pub fs: u16,
    /// WISEflow's port.
    pub wiseflow: u16,
    /// Inspera's port.
    pub inspera: u16,
    /// Slack's port.
    pub slack: u16,
    /// The identity provider's port.
    pub idp: u16,
}

/// The simulated systems, serving until the sandbox is dropped.
pub struct Sandbox {
    /// Base URL of the Bokbasen server, e.g. `http://127.0.0.1:41234`.
    pub bokbasen_url: String,
    /// Base URL of the Alma server.
    pub alma_url: String,
    /// Bokbasen's state, for inspection and steering.
    pub bokbasen: Arc<BokbasenState>,
    /// Alma's state, for inspection and steering.
    pub alma: Arc<AlmaState>,
    /// Base URL of the FS server.
    pub fs_url: String,
    /// FS's state, for inspection and steering.
    pub fs: Arc<FsState>,
    /// Root URL of the WISEflow server; its API base is `{wiseflow_url}/v1`.
    pub wiseflow_url: String,
    /// WISEflow's state (derived from FS), for inspection and steering.
    pub wiseflow: Arc<WiseflowState>,
    /// Root URL of the Inspera server; its API base is `{inspera_url}/api`.
    pub inspera_url: String,
    /// Inspera's state (derived from FS), for inspection and steering.
    pub inspera: Arc<InsperaState>,
    /// The full URL of Slack's one incoming webhook, token path included.
    pub slack_url: String,
    /// Slack's state: the messages posted, for inspection and steering.
    pub slack: Arc<SlackState>,
    /// Base URL of the identity provider, which is also its issuer.
    pub idp_url: String,
    /// The identity provider's state, for inspection and steering.
    pub idp: Arc<IdpState>,
    contract_log: Arc<ContractLog>,
    servers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Starts every system on free ports of 127.0.0.1.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        Self::start_on_ports(options, 0, 0, 0).await
    }

    /// Starts Bokbasen and Alma on the given ports of 127.0.0.1 (0 picks a
    /// free one) and FS on a free port.
    pub async fn start_on(
        options: SandboxOptions,
        bokbasen_port: u16,
        alma_port: u16,
    ) -> std::io::Result<Sandbox> {
        Self::start_on_ports(options, bokbasen_port, alma_port, 0).await
    }

    /// Starts Bokbasen, Alma and FS on the given ports of 127.0.0.1 (0 picks
    /// a free one) and the other systems on free ports.
    pub async fn start_on_ports(
        options: SandboxOptions,
        bokbasen_port: u16,
        alma_port: u16,
        fs_port: u16,
    ) -> std::io::Result<Sandbox> {
        let ports = SandboxPorts {
            bokbasen: bokbasen_port,
            alma: alma_port,
            fs: fs_port,
            ..SandboxPorts::default()
        };
        Self::start_with_ports(options, ports).await
    }

    /// Starts every system on the given ports of 127.0.0.1 (0 picks a free one).
    pub async fn start_with_ports(
        options: SandboxOptions,
        ports: SandboxPorts,
    ) -> std::io::Result<Sandbox> {
        let SandboxPorts {
            bokbasen: bokbasen_port,
            alma: alma_port,
            fs: fs_port,
            wiseflow: wiseflow_port,
            inspera: inspera_port,
            slack: slack_port,
            idp: idp_port,
        } = ports;
        let bokbasen_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, bokbasen_port)).await?;
        let alma_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, alma_port)).await?;
        let fs_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, fs_port)).await?;
        let bokbasen_url = format!("http://{}", bokbasen_listener.local_addr()?);
        let alma_url = format!("http://{}", alma_listener.local_addr()?);
        let fs_url = format!("http://{}", fs_listener.local_addr()?);
        let wiseflow_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, wiseflow_port)).await?;
        let wiseflow_url = format!("http://{}", wiseflow_listener.local_addr()?);
        let inspera_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, inspera_port)).await?;
        let inspera_url = format!("http://{}", inspera_listener.local_addr()?);
        let slack_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, slack_port)).await?;
        let slack_url = format!(
            "http://{}{}",
            slack_listener.local_addr()?,
            SLACK_WEBHOOK_PATH
        );

        let idp_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, idp_port)).await?;
        let idp_url = format!("http://{}", idp_listener.local_addr()?);

        let catalog = Arc::new(catalog::Catalog::default());
        let bokbasen = Arc::new(BokbasenState::new(
            &options,
            bokbasen_url.clone(),
            catalog.clone(),
            chrono::Utc::now(),
        ));
        let alma = Arc::new(AlmaState::new(&options, catalog));
        let fs = Arc::new(FsState::new(&options, chrono::Utc::now()));
        let wiseflow = Arc::new(WiseflowState::new(&options, fs.clone()));
        let inspera = Arc::new(InsperaState::new(&options, fs.clone()));
        if options.thesis_appeals {
            appeal_theses(&fs, wiseflow.theses().into_iter());
        }
        let slack = Arc::new(SlackState::new(&options));
        let idp = Arc::new(IdpState::new(&options, idp_url.clone()));

        let contract_log = Arc::new(ContractLog::default());
        let check = |system: &str| ContractCheck {
            contract: contract::contract(system),
            log: contract_log.clone(),
        };
        let servers = vec![
            serve(
                "bokbasen",
                bokbasen_listener,
                bokbasen::router(bokbasen.clone(), check("bokbasen")),
            ),
            serve(
                "alma",
                alma_listener,
                alma::router(alma.clone(), check("alma")),
            ),
            serve("fs", fs_listener, fs::router(fs.clone(), check("fs"))),
            serve(
                "wiseflow",
                wiseflow_listener,
                wiseflow::router(wiseflow.clone(), check("wiseflow")),
            ),
            serve(
                "inspera",
                inspera_listener,
                inspera::router(inspera.clone(), check("inspera")),
            ),
            inspera::spawn_delivery(inspera.clone()),
            serve(
                "slack",
                slack_listener,
                slack::router(slack.clone(), check("slack")),
            ),
            serve("idp", idp_listener, idp::router(idp.clone())),
        ];
        tracing::info!(%bokbasen_url, %alma_url, %fs_url, %wiseflow_url, %inspera_url, %idp_url, "sandbox started");
        Ok(Sandbox {
            bokbasen_url,
            alma_url,
            bokbasen,
            alma,
            fs_url,
            fs,
            wiseflow_url,
            wiseflow,
            inspera_url,
            inspera,
            slack_url,
            slack,
            idp_url,
            idp,
            contract_log,
            servers,
        })
    }

    /// The departures from the contracts (`contracts/`) seen so far, in requests the clients
    /// sent and in answers the sandbox gave, that `contracts/known-departures.yaml` does not
    /// list; taking them leaves none. A test that breaks a contract on purpose takes its
    /// violations, so that dropping the sandbox does not fail.
    pub fn take_contract_violations(&self) -> Vec<Violation> {
        contract::unknown(self.contract_log.take())
    }
}

impl Drop for Sandbox {
    /// Stops every server so tests do not leak listeners, then fails (panics) if any exchange
    /// departed from its contract in a way `contracts/known-departures.yaml` does not list:
    /// every test that starts a sandbox is also a contract test.
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
        let violations = contract::unknown(self.contract_log.take());
        if !violations.is_empty() && !std::thread::panicking() {
            let list: Vec<String> = violations.iter().map(|v| format!("- {v}")).collect();
            panic!(
                "{} exchanges departed from the contracts in contracts/:\n{}",
                violations.len(),
                list.join("\n")
            );
        }
    }
}

/// Appends to FS an open appeal of the first [`ThesisCase::Ordinary`] thesis
/// of every institution of `theses` (the scenario's held theses). The appeal's personal
/// fields are copied from the institution's first seeded appeal.
fn appeal_theses(fs: &FsState, theses: impl Iterator<Item = SandboxThesis>) {
    let mut appealed = std::collections::BTreeSet::new();
    for thesis in theses.filter(|t| t.case == ThesisCase::Ordinary) {
        if !appealed.insert(thesis.institution.clone()) {
            continue;
        }
        let Some(template) = fs.appeals(&thesis.institution).into_iter().next() else {
            continue;
        };
        fs.append_appeal(FsAppeal {
            assessment_id: thesis.assessment_id,
            candidate_number: thesis.candidate_number,
            institution: thesis.institution,
            sis_code: thesis.sis_code,
            status: AppealStatus::Active,
            changed_at: String::new(),
            ..template
        });
    }
}

fn serve(name: &'static str, listener: TcpListener, router: axum::Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(system = name, %error, "sandbox server stopped");
        }
    })
}
