//! Where FS and the exam systems are and how to sign in: read from two secrets at cold start and
//! turned into clients, looked up per institution. A name an institution uses that the secrets
//! do not hold is a Configuration error naming the institution, the field and the secret.
//!
//! - FS secret: `{"<fs_environment>": {"url", "username", "password"}, ...}`.
//! - Exam-systems secret: `{"<exam_system_instance>": {"system": "INSPERA", "url", "client_id",
//!   "api_key"} | {"system": "WISEFLOW", "url", "api_key"}, ...}`.

use std::collections::HashMap;

use serde::Deserialize;

use crate::clients::fs::{FsClient, FsEnvironment};
use crate::clients::inspera::{InsperaClient, InsperaCredentials};
use crate::clients::wiseflow::{WiseflowClient, WiseflowCredentials};
use crate::error::{Error, Result};
use crate::institution::{ExamSystem, Institution};
use crate::retry::RetryPolicy;

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
    /// its secret, and is never granted it) and builds a client per entry.
    pub async fn load(
        secrets: &aws_sdk_secretsmanager::Client,
        fs_secret_id: Option<&str>,
        exam_secret_id: Option<&str>,
        http: &reqwest::Client,
        retry: &RetryPolicy,
    ) -> Result<Self> {
        let environments: HashMap<String, FsEnvironment> = match fs_secret_id {
            Some(id) => {
                crate::secrets::load_json(
                    secrets,
                    id,
                    "per FS environment (prod, test): url, username, password",
                )
                .await?
            }
            None => HashMap::new(),
        };
        let instances: HashMap<String, ExamInstance> = match exam_secret_id {
            Some(id) => crate::secrets::load_json(
                secrets,
                id,
                "per exam-system instance: system (INSPERA or WISEFLOW), url, api_key and, for Inspera, client_id",
            )
            .await?,
            None => HashMap::new(),
        };
        let urls = environments
            .iter()
            .map(|(name, environment)| (fs_secret_id, name, environment.url.as_str()))
            .chain(instances.iter().map(|(name, instance)| {
                let url = match instance {
                    ExamInstance::Inspera { url, .. } | ExamInstance::Wiseflow { url, .. } => url,
                };
                (exam_secret_id, name, url.as_str())
            }));
        for (secret, entry, url) in urls {
            if !crate::http::is_https_or_loopback(url) {
                return Err(Error::configuration(format!(
                    "secret {}: entry {entry:?} has a url that is not https; credentials go only over https",
                    secret.unwrap_or_default()
                )));
            }
        }
        Ok(Self::new(
            fs_secret_id.unwrap_or("(FS secret not granted to this function)"),
            exam_secret_id.unwrap_or("(exam-systems secret not granted to this function)"),
            environments,
            instances,
            http,
            retry,
        ))
    }

    /// Builds the clients from already-read entries.
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
