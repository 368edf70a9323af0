//! Who may call over HTTP (`auth:`): the server is an OAuth 2.1 resource server as the MCP
//! authorization specification has it. It checks the bearer token of every request to `/mcp`
//! (static tokens from the environment, compared in constant time, or JWT access tokens checked
//! against a JWKS), the scopes a `tools/call` needs, and publishes its protected-resource metadata
//! (RFC 9728). Tokens are never logged.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::config::Project;
use crate::config::mcp::{Auth, Jwks};

/// The path of the protected-resource metadata (RFC 9728 §3).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// How long after an unknown `kid` made the JWKS load again another one does not (a stream of
/// forged tokens must not turn into a stream of requests to the authorization server).
const REFETCH_AFTER: Duration = Duration::from_secs(10);

/// How long a JWKS URL may take to answer.
const FETCH_LIMIT: Duration = Duration::from_secs(10);

/// An HTTP answer.
pub type Answer = Response<BoxBody<Bytes, std::convert::Infallible>>;

/// The checks of `auth:`, ready to run.
pub struct Gate {
    /// Where the metadata is, as clients reach it (`resource_metadata` in `WWW-Authenticate`).
    metadata_url: String,
    /// The paths the metadata is served at: the well-known path with the resource's path
    /// appended (RFC 9728 §3.1), and the bare well-known path.
    metadata_paths: Vec<String>,
    metadata: Bytes,
    /// The static tokens, compared in constant time (only a token's length can show), with the
    /// variable each was read from.
    tokens: Vec<(Vec<u8>, String)>,
    jwt: Option<JwtCheck>,
    /// The scopes each tool needs.
    scopes: RwLock<HashMap<String, Vec<String>>>,
}

struct JwtCheck {
    issuer: String,
    audience: Vec<String>,
    algorithms: Vec<Algorithm>,
    source: Jwks,
    keys: RwLock<JwkSet>,
    /// When an unknown key last made the set load again.
    reloaded: Mutex<Option<Instant>>,
}

/// The caller a request over HTTP was authenticated as, in its extensions (see [`Caller::id`]).
#[derive(Debug, Clone)]
pub struct CallerId(pub String);

/// What a valid token may do.
pub struct Caller {
    /// The token's scopes; `None` for a static token, which may call every tool.
    scopes: Option<HashSet<String>>,
    /// Who it is, for the policies (see [`crate::runtime::caller`]): `token:VAR` for a static
    /// token, `sub:SUBJECT` (and ` client:ID`) for a JWT.
    pub id: String,
}

impl Gate {
    /// The checks of `auth`, with the tokens read from the environment and the JWKS loaded (or
    /// fetched); an error says why the server cannot start.
    pub async fn new(auth: &Auth, project: &Project) -> Result<Self, String> {
        let mut tokens = Vec::new();
        for name in &auth.token_env {
            match std::env::var(name) {
                Ok(value) if !value.trim().is_empty() => {
                    tokens.push((value.trim().as_bytes().to_vec(), name.clone()));
                }
                Ok(_) => return Err(format!("`auth.tokens.env`: `{name}` is empty")),
                Err(_) => return Err(format!("`auth.tokens.env`: `{name}` is not set")),
            }
        }
        let jwt = match &auth.jwt {
            None => None,
            Some(jwt) => {
                let algorithms = jwt
                    .algorithms
                    .iter()
                    .map(|a| {
                        a.parse::<Algorithm>()
                            .map_err(|_| format!("unknown algorithm `{a}`"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = load_jwks(&jwt.jwks).await?;
                Some(JwtCheck {
                    issuer: jwt.issuer.clone(),
                    audience: jwt.audience.clone(),
                    algorithms,
                    source: jwt.jwks.clone(),
                    keys: RwLock::new(keys),
                    reloaded: Mutex::new(None),
                })
            }
        };
        let (origin, path) = split_url(&auth.resource);
        let path = path.trim_end_matches('/');
        let metadata_url = format!("{origin}{METADATA_PATH}{path}");
        let mut metadata_paths = vec![METADATA_PATH.to_owned()];
        if !path.is_empty() {
            metadata_paths.insert(0, format!("{METADATA_PATH}{path}"));
        }
        let scopes_supported = auth.scopes_supported.clone().unwrap_or_else(|| {
            let mut all: Vec<String> = project
                .tools
                .iter()
                .flat_map(|t| t.mcp.scopes.iter().cloned())
                .collect();
            all.sort();
            all.dedup();
            all
        });
        let mut doc = serde_json::Map::new();
        doc.insert("resource".into(), json!(auth.resource));
        if !auth.authorization_servers.is_empty() {
            doc.insert(
                "authorization_servers".into(),
                json!(auth.authorization_servers),
            );
        }
        doc.insert("bearer_methods_supported".into(), json!(["header"]));
        if !scopes_supported.is_empty() {
            doc.insert("scopes_supported".into(), json!(scopes_supported));
        }
        if let Some(name) = &auth.resource_name {
            doc.insert("resource_name".into(), json!(name));
        }
        let gate = Self {
            metadata_url,
            metadata_paths,
            metadata: Bytes::from(Value::Object(doc).to_string()),
            tokens,
            jwt,
            scopes: RwLock::new(HashMap::new()),
        };
        gate.set_tools(project);
        Ok(gate)
    }

    /// Takes the scopes of `project`'s tools (after a reload).
    pub fn set_tools(&self, project: &Project) {
        let scopes = project
            .tools
            .iter()
            .filter(|t| !t.mcp.scopes.is_empty())
            .map(|t| (t.id.clone(), t.mcp.scopes.clone()))
            .collect();
        *self.scopes.write().unwrap_or_else(PoisonError::into_inner) = scopes;
    }

    /// Whether `path` is where the metadata is served.
    pub fn is_metadata_path(&self, path: &str) -> bool {
        self.metadata_paths.iter().any(|p| p == path)
    }

    /// The protected-resource metadata document.
    pub fn metadata(&self) -> Answer {
        let mut response = Response::new(Full::new(self.metadata.clone()).boxed());
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            http::HeaderValue::from_static("*"),
        );
        response
    }

    /// Checks the bearer token of a request to `/mcp` (before its body is read); the answer to
    /// send instead when it has none or a bad one.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Box<Answer>> {
        let Some(token) = bearer(headers) else {
            return Err(Box::new(self.unauthorized(None)));
        };
        self.caller(token).await.map_err(|why| {
            tracing::info!("refused an MCP request over HTTP: {why}");
            Box::new(self.unauthorized(Some(&why)))
        })
    }

    /// Checks that `caller` has the scopes the `tools/call` requests of `body` need.
    pub fn authorize(&self, caller: &Caller, body: &[u8]) -> Result<(), Box<Answer>> {
        let Some(granted) = &caller.scopes else {
            return Ok(());
        };
        let needed = self.needed_scopes(body);
        let missing: Vec<&String> = needed.iter().filter(|s| !granted.contains(*s)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let all: Vec<&str> = needed.iter().map(String::as_str).collect();
        let missing: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
        tracing::info!(
            "refused an MCP request over HTTP: the token lacks the scope(s) {}",
            missing.join(" ")
        );
        Err(Box::new(self.answer(
            StatusCode::FORBIDDEN,
            format!(
                "Bearer error=\"insufficient_scope\", scope=\"{}\", resource_metadata=\"{}\", \
                 error_description=\"the token lacks the scope(s) {}\"",
                all.join(" "),
                self.metadata_url,
                missing.join(" ")
            ),
            format!(
                "Forbidden: the token lacks the scope(s) {}\n",
                missing.join(" ")
            ),
        )))
    }

    /// The scopes the `tools/call` requests of a body need, sorted, without repeats.
    fn needed_scopes(&self, body: &[u8]) -> Vec<String> {
        let Ok(message) = serde_json::from_slice::<Value>(body) else {
            return Vec::new();
        };
        let scopes = self.scopes.read().unwrap_or_else(PoisonError::into_inner);
        let messages = match &message {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        let mut needed: Vec<String> = messages
            .into_iter()
            .filter(|m| m["method"] == "tools/call")
            .filter_map(|m| m["params"]["name"].as_str())
            .filter_map(|name| scopes.get(name))
            .flatten()
            .cloned()
            .collect();
        needed.sort();
        needed.dedup();
        needed
    }

    async fn caller(&self, token: &str) -> Result<Caller, String> {
        let mut matched = 0u8;
        let mut which = None;
        for (known, name) in &self.tokens {
            // Every token is compared, whatever matched before.
            let this = token.as_bytes().ct_eq(known).unwrap_u8();
            matched |= this;
            if this == 1 && which.is_none() {
                which = Some(name);
            }
        }
        if matched == 1 {
            return Ok(Caller {
                scopes: None,
                id: format!("token:{}", which.map_or("", String::as_str)),
            });
        }
        match &self.jwt {
            Some(jwt) if token.matches('.').count() == 2 => jwt.check(token).await,
            _ => Err("the token is not one this server accepts".into()),
        }
    }

    fn unauthorized(&self, why: Option<&str>) -> Answer {
        let challenge = match why {
            None => format!("Bearer resource_metadata=\"{}\"", self.metadata_url),
            Some(why) => format!(
                "Bearer error=\"invalid_token\", error_description=\"{}\", \
                 resource_metadata=\"{}\"",
                why.replace(['"', '\\'], "'"),
                self.metadata_url
            ),
        };
        let text = match why {
            None => "Unauthorized: send `Authorization: Bearer <token>`\n".to_owned(),
            Some(why) => format!("Unauthorized: {why}\n"),
        };
        self.answer(StatusCode::UNAUTHORIZED, challenge, text)
    }

    fn answer(&self, status: StatusCode, challenge: String, text: String) -> Answer {
        let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
        *response.status_mut() = status;
        if let Ok(value) = http::HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl JwtCheck {
    async fn check(&self, token: &str) -> Result<Caller, String> {
        let head = jsonwebtoken::decode_header(token)
            .map_err(|_| "the token is not a JWT this server accepts (bad header)".to_owned())?;
        if !self.algorithms.contains(&head.alg) {
            return Err(format!(
                "the token is signed with {:?}, which this server does not accept",
                head.alg
            ));
        }
        let key = match self.key(head.kid.as_deref(), head.alg) {
            Some(key) => key,
            None => {
                // A key the server has not seen: the authorization server may have rotated its
                // keys since the set was loaded.
                if self.reload().await {
                    self.key(head.kid.as_deref(), head.alg)
                        .ok_or_else(|| unknown_kid(head.kid.as_deref()))?
                } else {
                    return Err(unknown_kid(head.kid.as_deref()));
                }
            }
        };
        // Only the token's own algorithm (accepted above): the crate refuses a list that mixes
        // key families.
        let mut validation = Validation::new(head.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&self.audience);
        validation.validate_nbf = true;
        validation.leeway = 30;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => "the token has expired (`exp`)".to_owned(),
                K::ImmatureSignature => "the token is not valid yet (`nbf`)".to_owned(),
                K::InvalidAudience => format!(
                    "the token is not for this server: its `aud` is not {}",
                    self.audience.join(" or ")
                ),
                K::InvalidIssuer => {
                    format!("the token's `iss` is not {}", self.issuer)
                }
                K::InvalidSignature => "the token's signature does not verify".to_owned(),
                K::MissingRequiredClaim(claim) => format!("the token has no `{claim}`"),
                K::InvalidAlgorithm => "the token's algorithm does not match its key".to_owned(),
                _ => "the token is not a valid JWT".to_owned(),
            }
        })?;
        let claims = data.claims;
        let mut scopes: HashSet<String> = claims["scope"]
            .as_str()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if let Some(scp) = claims["scp"].as_array() {
            scopes.extend(scp.iter().filter_map(Value::as_str).map(str::to_owned));
        }
        // Who, for the policies: the subject, and the client it used when the token names one
        // (RFC 9068 `client_id`, else OpenID's `azp`).
        let subject = claims["sub"].as_str();
        let client = claims["client_id"].as_str().or(claims["azp"].as_str());
        let id = match (subject, client) {
            (Some(sub), Some(client)) => format!("sub:{sub} client:{client}"),
            (Some(sub), None) => format!("sub:{sub}"),
            (None, Some(client)) => format!("client:{client}"),
            // Nothing in it says who: each token is a caller of its own (named by a digest,
            // never by the token), so that two such tokens never share a cached answer.
            (None, None) => format!("jwt:{}", crate::runtime::policy_state::digest(token)),
        };
        Ok(Caller {
            scopes: Some(scopes),
            id,
        })
    }

    /// The key for `kid` (any key of the set that can check `alg`, for a token without one).
    fn key(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let keys = self.keys.read().unwrap_or_else(PoisonError::into_inner);
        let fits = |jwk: &&jsonwebtoken::jwk::Jwk| {
            jwk.common
                .key_algorithm
                .is_none_or(|a| a.to_string() == format!("{alg:?}"))
        };
        let jwk = match kid {
            Some(kid) => keys.find(kid).filter(fits)?,
            None => {
                let mut candidates = keys.keys.iter().filter(fits);
                let first = candidates.next()?;
                if candidates.next().is_some() {
                    return None;
                }
                first
            }
        };
        DecodingKey::from_jwk(jwk).ok()
    }

    /// Loads the key set again, unless that was done a moment ago; whether it was.
    async fn reload(&self) -> bool {
        {
            let mut reloaded = self.reloaded.lock().unwrap_or_else(PoisonError::into_inner);
            if reloaded.is_some_and(|at| at.elapsed() < REFETCH_AFTER) {
                return false;
            }
            *reloaded = Some(Instant::now());
        }
        match load_jwks(&self.source).await {
            Ok(keys) => {
                *self.keys.write().unwrap_or_else(PoisonError::into_inner) = keys;
                true
            }
            Err(e) => {
                tracing::warn!("cannot reload the JWKS: {e}");
                false
            }
        }
    }
}

fn unknown_kid(kid: Option<&str>) -> String {
    match kid {
        Some(kid) => format!("the token's key `{kid}` is not in the JWKS"),
        None => "the token names no key (`kid`) and the JWKS has no single key for it".into(),
    }
}

/// The token of `Authorization: Bearer <token>`.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `https://host:port` and `/path` of a URL.
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

async fn load_jwks(source: &Jwks) -> Result<JwkSet, String> {
    let (text, from) = match source {
        Jwks::File(path) => (
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the JWKS {}: {e}", path.display()))?,
            path.display().to_string(),
        ),
        Jwks::Url(url) => {
            let owned = url.clone();
            let text = tokio::task::spawn_blocking(move || fetch(&owned))
                .await
                .map_err(|e| format!("cannot fetch the JWKS {url}: {e}"))??;
            (text, url.clone())
        }
    };
    serde_json::from_str::<JwkSet>(&text)
        .map_err(|e| format!("the JWKS {from} is not a JSON Web Key Set: {e}"))
}

fn fetch(url: &str) -> Result<String, String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(FETCH_LIMIT))
        .build()
        .into();
    agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| format!("cannot fetch the JWKS {url}: {e}"))?
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("cannot read the JWKS {url}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_urls() {
        assert_eq!(
            split_url("https://tools.example.com/mcp"),
            ("https://tools.example.com", "/mcp")
        );
        assert_eq!(
            split_url("https://tools.example.com"),
            ("https://tools.example.com", "")
        );
    }

    #[test]
    fn reads_bearer_tokens() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "bearer  ".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
