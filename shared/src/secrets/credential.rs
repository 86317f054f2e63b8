//! The credential a client presents, and the one way a client sends with it: the current value
//! for every request, and after a 401 one re-read of its secret and one repeat of the request.

use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;

use super::secret::Secret;
use crate::error::Result;
use crate::http::transport_error;

/// A client's credential: fixed ([`Credential::fixed`], for tests and one-off tools such as
/// `flyt preflight`), or an entry of a [`Secret`] that is read again with its TTL and after a
/// refusal ([`Credential::from_secret`]). Cloning shares it.
pub struct Credential<C> {
    source: Arc<dyn Source<C>>,
}

impl<C> Clone for Credential<C> {
    fn clone(&self) -> Self {
        Credential {
            source: self.source.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Credential<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credential({}, <value redacted>)",
            self.source.describe()
        )
    }
}

/// A credential as it was taken for one request: its value, and which read of its secret it came
/// from (so a refusal can tell whether the secret was read again since).
#[derive(Clone)]
pub struct Snapshot<C> {
    value: C,
    generation: u64,
}

impl<C> Snapshot<C> {
    /// The credential's value.
    pub fn value(&self) -> &C {
        &self.value
    }
}

impl<C> std::fmt::Debug for Snapshot<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Snapshot {{ generation: {}, <value redacted> }}",
            self.generation
        )
    }
}

/// Where a credential's current value comes from.
trait Source<C>: Send + Sync {
    /// The value now (a secret older than its TTL is read again first).
    fn current(&self) -> BoxFuture<'_, Result<Snapshot<C>>>;
    /// The value after a refusal of one from read `refused_generation`.
    fn after_refusal(&self, refused_generation: u64) -> BoxFuture<'_, Result<Snapshot<C>>>;
    /// What it is, for `Debug`: never the value.
    fn describe(&self) -> String;
}

struct Fixed<C>(C);

impl<C: Clone + Send + Sync> Source<C> for Fixed<C> {
    fn current(&self) -> BoxFuture<'_, Result<Snapshot<C>>> {
        let snapshot = Snapshot {
            value: self.0.clone(),
            generation: 0,
        };
        Box::pin(async move { Ok(snapshot) })
    }

    fn after_refusal(&self, _: u64) -> BoxFuture<'_, Result<Snapshot<C>>> {
        self.current()
    }

    fn describe(&self) -> String {
        "fixed".to_owned()
    }
}

/// What takes a client's credential out of a secret's value: an entry, or the whole value. Its
/// error (an entry gone from the secret) names the secret and the entry.
type Project<T, C> = Box<dyn Fn(&T) -> Result<C> + Send + Sync>;

struct FromSecret<T, C> {
    secret: Secret<T>,
    project: Project<T, C>,
}

impl<T, C> FromSecret<T, C>
where
    T: DeserializeOwned + Send + Sync + 'static,
{
    fn snapshot(&self, read: super::secret::Read<T>) -> Result<Snapshot<C>> {
        Ok(Snapshot {
            value: (self.project)(&read.value)?,
            generation: read.generation,
        })
    }
}

impl<T, C> Source<C> for FromSecret<T, C>
where
    T: DeserializeOwned + Send + Sync + 'static,
    C: Send + Sync,
{
    fn current(&self) -> BoxFuture<'_, Result<Snapshot<C>>> {
        Box::pin(async move { self.snapshot(self.secret.current().await) })
    }

    fn after_refusal(&self, refused_generation: u64) -> BoxFuture<'_, Result<Snapshot<C>>> {
        Box::pin(async move { self.snapshot(self.secret.after_refusal(refused_generation).await) })
    }

    fn describe(&self) -> String {
        format!("from secret {}", self.secret.id())
    }
}

impl<C: Clone + PartialEq + Send + Sync + 'static> Credential<C> {
    /// A credential that never changes.
    pub fn fixed(value: C) -> Self {
        Credential {
            source: Arc::new(Fixed(value)),
        }
    }

    /// The credential `project` takes out of `secret`'s current value, e.g. one entry of it.
    pub fn from_secret<T: DeserializeOwned + Send + Sync + 'static>(
        secret: &Secret<T>,
        project: impl Fn(&T) -> Result<C> + Send + Sync + 'static,
    ) -> Self {
        Credential {
            source: Arc::new(FromSecret {
                secret: secret.clone(),
                project: Box::new(project),
            }),
        }
    }

    /// The credential that is `secret`'s whole value.
    pub fn whole(secret: &Secret<C>) -> Self
    where
        C: DeserializeOwned,
    {
        Credential::from_secret(secret, |value: &C| Ok(value.clone()))
    }

    /// The value to present now.
    pub async fn current(&self) -> Result<Snapshot<C>> {
        self.source.current().await
    }

    /// After the system refused `refused`: the secret read again (at most once per re-read
    /// interval, and not when a newer read already replaced it), and the new value if it differs
    /// from the refused one; `None` when there is nothing new to try.
    pub async fn renewed(&self, refused: &Snapshot<C>) -> Result<Option<Snapshot<C>>> {
        let now = self.source.after_refusal(refused.generation).await?;
        Ok((now.value != refused.value).then_some(now))
    }

    /// Sends the request `request` builds with the current value; on a 401 has the secret read
    /// again and, if that brought a new value, sends the request once more with it. The answer is
    /// returned whatever its status: a second 401, or a 401 with nothing new to try, is the
    /// caller's to turn into its usual error. A transport failure is External, naming `system`
    /// and `what`.
    pub async fn send(
        &self,
        system: &str,
        what: &str,
        request: impl Fn(&C) -> RequestBuilder,
    ) -> Result<Response> {
        Ok(self.send_presenting(system, what, request).await?.0)
    }

    /// [`Credential::send`], also telling which value the answer is to (a token cache keeps it to
    /// know what to renew when the token is refused).
    pub async fn send_presenting(
        &self,
        system: &str,
        what: &str,
        request: impl Fn(&C) -> RequestBuilder,
    ) -> Result<(Response, Snapshot<C>)> {
        let presented = self.current().await?;
        let response = send(&request, &presented, system, what).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok((response, presented));
        }
        let Some(renewed) = self.renewed(&presented).await? else {
            return Ok((response, presented));
        };
        tracing::info!(
            system,
            "{system} refused the credential (401); sending once more with the one read since"
        );
        let response = send(&request, &renewed, system, what).await?;
        Ok((response, renewed))
    }
}

async fn send<C>(
    request: &impl Fn(&C) -> RequestBuilder,
    presented: &Snapshot<C>,
    system: &str,
    what: &str,
) -> Result<Response> {
    request(&presented.value)
        .send()
        .await
        .map_err(|e| transport_error(system, what, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fixed_credential_never_changes_and_never_shows() {
        let credential = Credential::fixed("hunter2".to_owned());
        let taken = credential.current().await.unwrap();
        assert_eq!(taken.value(), "hunter2");
        assert!(
            credential.renewed(&taken).await.unwrap().is_none(),
            "nothing new to try after a refusal"
        );
        let shown = format!("{credential:?} {taken:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
