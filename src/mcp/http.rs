//! MCP over Streamable HTTP at `/mcp`: stateless, so that several instances behind any load
//! balancer serve one project.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::auth::Gate;
use super::handler::Handler;

/// The path the server answers on.
pub const PATH: &str = "/mcp";

/// Serves `handler` on `listener` until the process ends; with a `gate`, every request to
/// [`PATH`] must pass its checks, and the protected-resource metadata is served.
pub async fn serve(
    handler: Handler,
    listener: tokio::net::TcpListener,
    gate: Option<Arc<Gate>>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let service: StreamableHttpService<Handler, NeverSessionManager> = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config(addr, gate.is_some()),
    );
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: the next accept may work.
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let service = service.clone();
        let gate = gate.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    let gate = gate.clone();
                    async move {
                        let path = req.uri().path();
                        if let Some(gate) = &gate
                            && gate.is_metadata_path(path)
                        {
                            return Ok::<_, std::convert::Infallible>(gate.metadata());
                        }
                        if path != PATH {
                            return Ok(not_found());
                        }
                        // A CORS preflight never carries credentials (Fetch standard): it gets
                        // the answer it would get without `auth:`.
                        let Some(gate) = gate.filter(|_| req.method() != http::Method::OPTIONS)
                        else {
                            return Ok(service.handle(req).await);
                        };
                        let caller = match gate.authenticate(req.headers()).await {
                            Ok(caller) => caller,
                            Err(refused) => return Ok(closing(*refused)),
                        };
                        // The scopes a call needs depend on its tool: the body is read first.
                        let (parts, body) = req.into_parts();
                        let limit = super::max_request_bytes();
                        let body = match http_body_util::Limited::new(body, limit).collect().await {
                            Ok(collected) => collected.to_bytes(),
                            Err(_) => return Ok(too_large(limit)),
                        };
                        if let Err(refused) = gate.authorize(&caller, &body) {
                            return Ok(*refused);
                        }
                        let mut parts = parts;
                        parts
                            .extensions
                            .insert(super::auth::CallerId(caller.id.clone()));
                        let req =
                            hyper::Request::from_parts(parts, http_body_util::Full::new(body));
                        Ok(service.handle(req).await)
                    }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        });
    }
}

/// Stateless for every protocol era; JSON answers unless a call sends notifications (then SSE).
/// Bound to a loopback address, `Host` and `Origin` must name this machine (DNS-rebinding
/// protection: 403 otherwise); bound elsewhere, bearer tokens decide who may call (`auth:`), or,
/// with `--no-auth`, a proxy or load balancer in front.
fn config(addr: SocketAddr, checks_tokens: bool) -> StreamableHttpServerConfig {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    if addr.ip().is_loopback() {
        config
            .with_allowed_hosts(["localhost", "127.0.0.1", "::1", "[::1]"])
            .with_allowed_origins([
                "http://localhost:*",
                "http://127.0.0.1:*",
                "http://[::1]:*",
                "https://localhost:*",
                "https://127.0.0.1:*",
                "https://[::1]:*",
            ])
            .enforce_origin_validation()
    } else if checks_tokens {
        config.disable_allowed_hosts()
    } else {
        tracing::warn!(
            "serving MCP on {addr}, which is not a loopback address: Host and Origin are not \
             checked; put it behind a proxy that decides who may reach it"
        );
        config.disable_allowed_hosts()
    }
}

/// A refusal sent before the request's body was read: the connection cannot carry another
/// request (the unread body would be taken for one), so the client is told to open a new one.
/// Without this, a client that asks for the metadata on the connection it was refused on (the
/// official Python SDK does) would find it closed under it.
fn closing(
    mut response: http::Response<
        http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>,
    >,
) -> http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>> {
    response.headers_mut().insert(
        http::header::CONNECTION,
        http::HeaderValue::from_static("close"),
    );
    response
}

fn too_large(
    limit: usize,
) -> http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>> {
    let mut response = http::Response::new(
        http_body_util::Full::new(bytes::Bytes::from(format!(
            "Payload Too Large: a request body is limited to {limit} bytes \
             (COMPOZY_MAX_REQUEST_BYTES)\n"
        )))
        .boxed(),
    );
    *response.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
    response
}

fn not_found()
-> http::Response<http_body_util::combinators::BoxBody<bytes::Bytes, std::convert::Infallible>> {
    let mut response = http::Response::new(
        http_body_util::Full::new(bytes::Bytes::from_static(
            b"Not Found: the MCP endpoint is /mcp\n",
        ))
        .boxed(),
    );
    *response.status_mut() = http::StatusCode::NOT_FOUND;
    response
}
