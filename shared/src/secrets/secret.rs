//! A secret read from Secrets Manager and kept with a TTL: the I/O around [`Freshness`].

use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use tokio::sync::Mutex;

use super::freshness::{Decision, Freshness, Refresh};
use crate::error::Result;

/// A checked JSON secret, kept and read again when it is older than the TTL or after a refusal
/// (module doc of [`crate::secrets`]). Cloning shares the cached value: every client built from
/// one secret sees one value and causes one read.
pub struct Secret<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Secret<T> {
    fn clone(&self) -> Self {
        Secret {
            inner: self.inner.clone(),
        }
    }
}

/// What checks a read value beyond its JSON shape; its error names the secret and the entry.
type Check<T> = Box<dyn Fn(&T) -> Result<()> + Send + Sync>;

struct Inner<T> {
    client: aws_sdk_secretsmanager::Client,
    id: String,
    fields: String,
    check: Check<T>,
    state: Mutex<State<T>>,
}

struct State<T> {
    value: Arc<T>,
    version: Option<String>,
    freshness: Freshness,
}

/// A value of a secret and which successful read it came from.
pub(super) struct Read<T> {
    pub(super) value: Arc<T>,
    pub(super) generation: u64,
}

impl<T: DeserializeOwned + Send + Sync + 'static> Secret<T> {
    /// Reads the JSON secret `id` as `T` now and keeps it. `fields` describes what it must hold,
    /// for error messages; `check` is run on this and every later read (a later read it refuses
    /// keeps the earlier value). A failure here is the cold start's error, as with
    /// [`super::load_json`].
    pub async fn load(
        client: &aws_sdk_secretsmanager::Client,
        id: &str,
        fields: &str,
        refresh: Refresh,
        check: impl Fn(&T) -> Result<()> + Send + Sync + 'static,
    ) -> Result<Self> {
        let check: Check<T> = Box::new(check);
        let (value, version) = read(client, id, fields, &check).await?;
        Ok(Secret {
            inner: Arc::new(Inner {
                client: client.clone(),
                id: id.to_owned(),
                fields: fields.to_owned(),
                check,
                state: Mutex::new(State {
                    value: Arc::new(value),
                    version,
                    freshness: Freshness::new(refresh, Instant::now()),
                }),
            }),
        })
    }

    /// The secret's id, as configured.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The value, read again first when it is older than the TTL.
    pub async fn value(&self) -> Arc<T> {
        self.current().await.value
    }

    /// The value and its read, read again first when it is older than the TTL.
    pub(super) async fn current(&self) -> Read<T> {
        let mut state = self.inner.state.lock().await;
        if state.freshness.on_use(Instant::now()) == Decision::Read {
            self.read_again(&mut state, "older than the TTL").await;
        }
        read_of(&state)
    }

    /// The value after a system refused a credential taken from read `refused_generation`: read
    /// again unless a newer read replaced it or a refusal forced a read less than the re-read
    /// interval ago.
    pub(super) async fn after_refusal(&self, refused_generation: u64) -> Read<T> {
        let mut state = self.inner.state.lock().await;
        match state
            .freshness
            .on_refusal(Instant::now(), refused_generation)
        {
            Decision::Read => {
                self.read_again(&mut state, "a credential from it was refused")
                    .await
            }
            Decision::Serve if state.freshness.generation() == refused_generation => {
                tracing::debug!(
                    secret = %self.inner.id,
                    "a credential was refused again; the secret was read again less than the re-read interval ago, so it is not read now"
                );
            }
            Decision::Serve => {}
        }
        read_of(&state)
    }

    /// Reads the secret again into `state`; a failure keeps the value and logs why.
    async fn read_again(&self, state: &mut State<T>, reason: &'static str) {
        let inner = &self.inner;
        match read(&inner.client, &inner.id, &inner.fields, &inner.check).await {
            Ok((value, version)) => {
                let new_version = version.is_none() || version != state.version;
                state.value = Arc::new(value);
                state.version = version;
                state.freshness.read_succeeded(Instant::now());
                tracing::info!(secret = %inner.id, reason, new_version, "secret read again");
            }
            Err(error) => {
                state.freshness.read_failed(Instant::now());
                tracing::warn!(
                    secret = %inner.id,
                    reason,
                    %error,
                    "reading the secret again failed; the value read before stays in use"
                );
            }
        }
    }
}

fn read_of<T>(state: &State<T>) -> Read<T> {
    Read {
        value: state.value.clone(),
        generation: state.freshness.generation(),
    }
}

/// Fetches, parses and checks the secret.
async fn read<T: DeserializeOwned>(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
    fields: &str,
    check: &Check<T>,
) -> Result<(T, Option<String>)> {
    let (text, version) = super::fetch(client, id, fields).await?;
    let value = super::parse(id, fields, &text)?;
    check(&value)?;
    Ok((value, version))
}
