//! MCP over Streamable HTTP at `/mcp`: stateless, so that several instances behind any load
//! balancer serve one project.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use super::handler::Handler;

/// The path the server answers on.
pub const PATH: &str = "/mcp";

/// Serves `handler` on `listener` until the process ends.
pub async fn serve(handler: Handler, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    let service: StreamableHttpService<Handler, NeverSessionManager> = StreamableHttpService::new(
        move || Ok(handler.clone()),
        Arc::new(NeverSessionManager::default()),
        config(addr),
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
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    async move {
                        if req.uri().path() != PATH {
                            return Ok::<_, std::convert::Infallible>(not_found());
                        }
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
/// protection: 403 otherwise); bound elsewhere, the server is meant to sit behind a proxy or
/// load balancer that decides who may reach it.
fn config(addr: SocketAddr) -> StreamableHttpServerConfig {
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
    } else {
        tracing::warn!(
            "serving MCP on {addr}, which is not a loopback address: Host and Origin are not \
             checked; put it behind a proxy that decides who may reach it"
        );
        config.disable_allowed_hosts()
    }
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
