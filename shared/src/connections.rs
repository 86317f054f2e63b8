//! Where FS and the exam systems are and how to sign in: read from two secrets at cold start and
//! turned into clients, looked up per institution. A name an institution uses that the secrets
//! do not hold is a Configuration error naming the institution, the field and the secret.
//!
//! - FS secret: `{"<fs_environment>": {"url", "username", "password"}, ...}`.
//! - Exam-systems secret: `{"<exam_system_instance>": {"system": "INSPERA", "url", "client_id",
//!   "api_key"} | {"system": "WISEFLOW", "url", "api_key"}, ...}`.
//!
//! [`Connections::load`] keeps both secrets as [`Secret`]s: each client takes its entry's current
//! credentials for every request, so a rotated password or API key is used after the TTL, or at
//! once after the system answers 401 (module doc of [`crate::secrets`]). An FS entry's url is
//! followed too; an exam system's url, and which entries there are, stay as read at cold start
//! (an entry added later needs a new instance). Every read of a secret is checked: a `url` that is
//! not https is refused, at cold start as an error, later by keeping the value read before.

use std::collections::HashMap;

use serde::Deserialize;

use crate::clients::fs::{FsClient, FsEnvironment};
use crate::clients::inspera::{InsperaClient, InsperaCredentials};
use crate::clients::wiseflow::{WiseflowClient, WiseflowCredentials};
use crate::error::{Error, Result};
use crate::institution::{ExamSystem, Institution};
use crate::retry::RetryPolicy;
use crate::secrets::{Credential, Refresh, Secret};

/// What the FS secret must hold.
const FS_FIELDS: &str = "per FS environment (prod, test): url, username, password";
/// What the exam-systems secret must hold.
const EXAM_FIELDS: &str = "per exam-system instance: system (INSPERA or WISEFLOW), url, api_key and, for Inspera, client_id";

/// One exam-system instance as stored in the exam-systems secret.
#[derive(Clone, Deserialize)]
#[serde(tag = "system", rename_all = "UPPERCASE")]
pub enum ExamInstance {
    /// An Inspera tenant.
    Inspera {
        /// API base, ending in `/api`.
        url: String,
        /// `client_id` of the token call.
        client_id: String,
        /// The API key (header `code`).
        api_key: String,
    },
    /// A WISEflow licence.
    Wiseflow {
        /// API base, ending in `/v1`.
        url: String,
        /// The `x-api-key`.
        api_key: String,
    },
}

impl ExamInstance {
    fn url(&self) -> &str {
        match self {
            ExamInstance::Inspera { url, .. } | ExamInstance::Wiseflow { url, .. } => url,
        }
    }

    fn inspera(&self) -> Option<InsperaCredentials> {
        match self {
            ExamInstance::Inspera {
                client_id, api_key, ..
            } => Some(InsperaCredentials {
                client_id: client_id.clone(),
                api_key: api_key.clone(),
            }),
            ExamInstance::Wiseflow { .. } => None,
        }
    }

    fn wiseflow(&self) -> Option<WiseflowCredentials> {
        match self {
            ExamInstance::Wiseflow { api_key, .. } => Some(WiseflowCredentials {
                api_key: api_key.clone(),
            }),
            ExamInstance::Inspera { .. } => None,
        }
    }
}

/// A client of the exam system an institution uses.
#[derive(Clone, Copy)]
pub enum ExamClient<'a> {
    /// Inspera.
    Inspera(&'a InsperaClient),
    /// WISEflow.
    Wiseflow(&'a WiseflowClient),
}

/// Clients by FS environment and by exam-system instance.
pub struct Connections {
    fs_secret_id: String,
    exam_secret_id: String,
    fs: HashMap<String, FsClient>,
    inspera: HashMap<String, InsperaClient>,
    wiseflow: HashMap<String, WiseflowClient>,
}

impl Connections {
    /// Reads the secrets a function needs (a function that never talks to FS passes `None` for
    /// its secret, and is never granted it), keeps them fresh as `refresh` says, and builds a
    /// client per entry.
    pub async fn load(
        secrets: &aws_sdk_secretsmanager::Client,
        refresh: Refresh,
        fs_secret_id: Option<&str>,
        exam_secret_id: Option<&str>,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Self> {
        let mut fs = HashMap::new();
        if let Some(id) = fs_secret_id {
            let secret: Secret<HashMap<String, FsEnvironment>> = Secret::load(
                secrets,
                id,
                FS_FIELDS,
                refresh,
                https_only(id, |e: &FsEnvironment| &e.url),
            )
            .await?;
            for name in secret.value().await.keys() {
                let credential = entry(&secret, name, "FS environment", |e: &FsEnvironment| {
                    Some(e.clone())
                });
                fs.insert(
                    name.clone(),
                    FsClient::with_credential(http.clone(), credential, retry.clone()),
                );
            }
        }
        let mut inspera = HashMap::new();
        let mut wiseflow = HashMap::new();
        if let Some(id) = exam_secret_id {
            let secret: Secret<HashMap<String, ExamInstance>> = Secret::load(
                secrets,
                id,
                EXAM_FIELDS,
                refresh,
                https_only(id, ExamInstance::url),
            )
            .await?;
            for (name, instance) in secret.value().await.iter() {
                let url = instance.url().to_owned();
                match instance {
                    ExamInstance::Inspera { .. } => {
                        let credential = entry(&secret, name, "INSPERA", ExamInstance::inspera);
                        inspera.insert(
                            name.clone(),
                            InsperaClient::with_credential(
                                http.clone(),
                                url,
                                credential,
                                retry.clone(),
                            ),
                        );
                    }
                    ExamInstance::Wiseflow { .. } => {
                        let credential = entry(&secret, name, "WISEFLOW", ExamInstance::wiseflow);
                        wiseflow.insert(
                            name.clone(),
                            WiseflowClient::with_credential(
                                http.clone(),
                                url,
                                credential,
                                retry.clone(),
                            ),
                        );
                    }
                }
            }
        }
        Ok(Connections {
            fs_secret_id: fs_secret_id
                .unwrap_or("(FS secret not granted to this function)")
                .to_owned(),
            exam_secret_id: exam_secret_id
                .unwrap_or("(exam-systems secret not granted to this function)")
                .to_owned(),
            fs,
            inspera,
            wiseflow,
        })
    }

    /// Builds the clients from already-read entries, whose credentials stay as given (tests and
    /// `flyt preflight`).
    pub fn new(
        fs_secret_id: &str,
        exam_secret_id: &str,
        environments: HashMap<String, FsEnvironment>,
        instances: HashMap<String, ExamInstance>,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Self {
        let fs = environments
            .into_iter()
            .map(|(name, environment)| {
                (
                    name,
                    FsClient::new(http.clone(), environment, retry.clone()),
                )
            })
            .collect();
        let mut inspera = HashMap::new();
        let mut wiseflow = HashMap::new();
        for (name, instance) in instances {
            match instance {
                ExamInstance::Inspera {
                    url,
                    client_id,
                    api_key,
                } => {
                    let credentials = InsperaCredentials { client_id, api_key };
                    inspera.insert(
                        name,
                        InsperaClient::new(http.clone(), url, credentials, retry.clone()),
                    );
                }
                ExamInstance::Wiseflow { url, api_key } => {
                    let credentials = WiseflowCredentials { api_key };
                    wiseflow.insert(
                        name,
                        WiseflowClient::new(http.clone(), url, credentials, retry.clone()),
                    );
                }
            }
        }
        Connections {
            fs_secret_id: fs_secret_id.to_owned(),
            exam_secret_id: exam_secret_id.to_owned(),
            fs,
            inspera,
            wiseflow,
        }
    }

    /// The FS client of the institution's environment.
    pub fn fs(&self, institution: &Institution) -> Result<&FsClient> {
        self.fs.get(&institution.fs_environment).ok_or_else(|| {
            Error::configuration(format!(
                "institution {}: fs_environment {:?} has no entry in secret {}: add url, username and password for it",
                institution.org_id, institution.fs_environment, self.fs_secret_id
            ))
        })
    }

    /// The client of the institution's exam-system instance.
    pub fn exam_system(&self, institution: &Institution) -> Result<ExamClient<'_>> {
        let instance = &institution.exam_system_instance;
        let found = match institution.exam_system {
            ExamSystem::Inspera => self.inspera.get(instance).map(ExamClient::Inspera),
            ExamSystem::Wiseflow => self.wiseflow.get(instance).map(ExamClient::Wiseflow),
        };
        found.ok_or_else(|| {
            Error::configuration(format!(
                "institution {}: exam_system_instance {instance:?} has no {} entry in secret {}: add it, or correct the institution's exam_system_instance",
                institution.org_id, institution.exam_system, self.exam_secret_id
            ))
        })
    }

    /// The WISEflow client of an institution that must be on WISEflow (a WISEflow poll or
    /// answer names it); any other exam system is a Configuration error naming the institution.
    pub fn wiseflow(&self, institution: &Institution) -> Result<&WiseflowClient> {
        match self.exam_system(institution)? {
            ExamClient::Wiseflow(client) => Ok(client),
            ExamClient::Inspera(_) => Err(Error::configuration(format!(
                "institution {}: a WISEflow case or thesis names it, but its exam_system is {}: correct the configuration entry",
                institution.org_id, institution.exam_system
            ))),
        }
    }

    /// The Inspera client of a tenant (webhooks name the tenant, not the institution).
    pub fn inspera(&self, instance: &str) -> Result<&InsperaClient> {
        self.inspera.get(instance).ok_or_else(|| {
            Error::configuration(format!(
                "Inspera instance {instance:?} has no INSPERA entry in secret {}",
                self.exam_secret_id
            ))
        })
    }
}

/// The check of every read of a secret of entries with a `url`: credentials go only over https
/// (or to this machine). The error names the secret and the entry, not the url.
fn https_only<E: 'static>(
    secret_id: &str,
    url: fn(&E) -> &str,
) -> impl Fn(&HashMap<String, E>) -> Result<()> + Send + Sync + 'static {
    let secret_id = secret_id.to_owned();
    move |entries| {
        for (entry, value) in entries {
            if !crate::http::is_https_or_loopback(url(value)) {
                return Err(Error::configuration(format!(
                    "secret {secret_id}: entry {entry:?} has a url that is not https; credentials go only over https"
                )));
            }
        }
        Ok(())
    }
}

/// The credential of entry `name` of `secret`, as `take` finds it in the current value; an entry
/// gone from the secret, or no longer of `kind`, is a Configuration error naming both.
fn entry<E, C>(
    secret: &Secret<HashMap<String, E>>,
    name: &str,
    kind: &'static str,
    take: fn(&E) -> Option<C>,
) -> Credential<C>
where
    E: serde::de::DeserializeOwned + Send + Sync + 'static,
    C: Clone + PartialEq + Send + Sync + 'static,
{
    let secret_id = secret.id().to_owned();
    let name = name.to_owned();
    Credential::from_secret(secret, move |entries: &HashMap<String, E>| {
        entries.get(&name).and_then(take).ok_or_else(|| {
            Error::configuration(format!(
                "secret {secret_id} no longer has the {kind} entry {name:?} this instance was started with: restore it, or update the institutions that name it"
            ))
        })
    })
}
