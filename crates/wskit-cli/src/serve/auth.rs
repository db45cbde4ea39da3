//! The admission of `/ws` and `/echo` clients: the page's origin and the connection caps of
//! [`limits`](super::limits) before the upgrade, and the connection tokens.
//!
//! A token is a JWT signed with the `token_secret` (HS256) or the key of `token_public_key`
//! (RS256 or ES256). Its claims:
//!
//! - `sub` (required): the user; `exp` (required): when the token, and the connection that
//!   presented it unless it presents a fresh one, ends (close 4002).
//! - `name`: the connection's name (clients cannot pick one with `name` when tokens are on).
//! - `join`: patterns of the groups it may join and list (`presence`); `publish`: of those it
//!   may publish to; `send`: true if it may message other connections. A pattern is a group
//!   name, or a prefix followed by `*` (`public:*`; `*` alone is every group), in which
//!   `{sub}` stands for the user (`user:{sub}`). Absent claims allow nothing.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use wskit_hub::{Admission, Rejection, UpgradeRequest};

use super::limits::Connections;
use super::origin;

/// What an upgrade must pass.
#[derive(Clone)]
pub(crate) struct Gate {
    pub(crate) connections: Arc<Connections>,
    /// Admit only pages of this server's own origin (no `allowed_origins` configured; the
    /// hub checks a configured list itself).
    pub(crate) same_origin: bool,
    /// The token keys, when clients must present a token.
    pub(crate) tokens: Option<Arc<Tokens>>,
    /// A client without a token in the upgrade may send it as its first message (`/ws`);
    /// otherwise (`/echo`) it is refused with 401.
    pub(crate) token_later: bool,
}

/// The keys that verify connection tokens.
pub(crate) struct Tokens {
    keys: Vec<(Algorithm, DecodingKey)>,
}

/// Who a connection is, from its token.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) sub: String,
    pub(crate) name: Option<String>,
    join: Arc<[String]>,
    publish: Arc<[String]>,
    pub(crate) send: bool,
    /// Seconds since the Unix epoch.
    pub(crate) exp: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenError {
    /// Its `exp` has passed.
    Expired,
    /// Anything else: bad signature, algorithm, format, missing claims.
    Invalid(String),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    join: Vec<String>,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    send: bool,
}

// ===== impl Gate =====

impl Gate {
    /// Admits the upgrade `request`, attaching its place under the caps (and its identity,
    /// when it carries a token) to the connection, or refuses it: 403 for another site's
    /// page, 401 for a missing or bad token, 503 with `Retry-After` at a connection cap.
    pub(crate) fn admit(&self, request: &UpgradeRequest) -> Result<Admission, Rejection> {
        if self.same_origin && !origin::page_allowed(request.origin(), request.header("host")) {
            metrics::counter!("wskit_serve_refused_total", "reason" => "origin").increment(1);
            return Err(Rejection::new(
                403,
                "origin not allowed: only this server's own pages may connect (list other \
                 origins in allowed_origins)",
            ));
        }
        let identity = match (&self.tokens, request.query_param("token")) {
            (None, _) => None,
            (Some(tokens), Some(token)) => match tokens.verify(token) {
                Ok(identity) => Some(identity),
                Err(err) => {
                    metrics::counter!("wskit_serve_refused_total", "reason" => "token")
                        .increment(1);
                    return Err(
                        Rejection::new(401, err.to_string()).header("WWW-Authenticate", "Bearer")
                    );
                }
            },
            (Some(_), None) if self.token_later => None,
            (Some(_), None) => {
                metrics::counter!("wskit_serve_refused_total", "reason" => "token").increment(1);
                return Err(Rejection::new(
                    401,
                    "a connection token is required: add ?token=JWT to the URL",
                )
                .header("WWW-Authenticate", "Bearer"));
            }
        };
        let slot = self
            .connections
            .admit(request.peer_addr().map(|addr| addr.ip()))?;
        let mut admission = Admission::new().insert(Arc::new(slot));
        if let Some(identity) = identity {
            admission = admission.insert(identity);
        }
        Ok(admission)
    }
}

// ===== impl Tokens =====

impl Tokens {
    /// The keys of `secret` (HS256) and of the PEM file `public_key` (RS256 for an RSA key,
    /// ES256 for an EC P-256 key); `None` if neither is given.
    pub(crate) fn load(
        secret: Option<&str>,
        public_key: Option<&Path>,
    ) -> anyhow::Result<Option<Self>> {
        let mut keys = Vec::new();
        if let Some(secret) = secret {
            keys.push((
                Algorithm::HS256,
                DecodingKey::from_secret(secret.as_bytes()),
            ));
        }
        if let Some(path) = public_key {
            let pem = std::fs::read(path)
                .with_context(|| format!("token_public_key {}", path.display()))?;
            if let Ok(key) = DecodingKey::from_rsa_pem(&pem) {
                keys.push((Algorithm::RS256, key));
            } else if let Ok(key) = DecodingKey::from_ec_pem(&pem) {
                keys.push((Algorithm::ES256, key));
            } else {
                bail!(
                    "token_public_key {}: not a PEM RSA or EC public key",
                    path.display()
                );
            }
        }
        Ok((!keys.is_empty()).then_some(Self { keys }))
    }

    /// Checks `token`'s signature, algorithm and expiry, and reads its claims.
    pub(crate) fn verify(&self, token: &str) -> Result<Identity, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| TokenError::Invalid(format!("not a JWT: {err}")))?;
        let Some((algorithm, key)) = self.keys.iter().find(|(alg, _)| *alg == header.alg) else {
            return Err(TokenError::Invalid(format!(
                "tokens signed with {:?} are not accepted",
                header.alg
            )));
        };
        let mut validation = Validation::new(*algorithm);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|err| match err.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(err.to_string()),
            })?
            .claims;
        Ok(Identity {
            sub: claims.sub,
            name: claims.name,
            join: claims.join.into(),
            publish: claims.publish.into(),
            send: claims.send,
            exp: claims.exp,
        })
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithms: Vec<_> = self.keys.iter().map(|(alg, _)| alg).collect();
        f.debug_struct("Tokens")
            .field("algorithms", &algorithms)
            .finish()
    }
}

// ===== impl Identity =====

impl Identity {
    /// Whether the token lets the connection join and list `group`.
    pub(crate) fn may_join(&self, group: &str) -> bool {
        self.join.iter().any(|p| matches(p, &self.sub, group))
    }

    /// Whether the token lets the connection publish to `group`.
    pub(crate) fn may_publish(&self, group: &str) -> bool {
        self.publish.iter().any(|p| matches(p, &self.sub, group))
    }
}

/// Whether `group` fits `pattern` (a name, or a prefix and `*`), `{sub}` standing for `sub`.
fn matches(pattern: &str, sub: &str, group: &str) -> bool {
    // The wildcard is read before `{sub}` is replaced: a `*` in a user's id is no wildcard.
    match pattern.strip_suffix('*') {
        Some(prefix) => group.starts_with(&prefix.replace("{sub}", sub)),
        None => pattern.replace("{sub}", sub) == group,
    }
}

// ===== impl TokenError =====

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Expired => f.write_str("token expired: get a fresh one"),
            Self::Invalid(why) => write!(f, "invalid token: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("public:*", "u1", "public:lobby"));
        assert!(!matches("public:*", "u1", "private:x"));
        assert!(matches("user:{sub}", "u1", "user:u1"));
        assert!(!matches("user:{sub}", "u1", "user:u2"));
        assert!(matches("*", "u1", "anything"));
        assert!(matches("room", "u1", "room"));
        assert!(!matches("room", "u1", "room2"));
        assert!(!matches("user:{sub}", "a*", "user:ab"));
    }
}
