//! What it shows: one petstore API (an axum `Router` with its OpenAPI document from utoipa)
//! served over plain HTTP and over WebSocket (`wskit_rest::RestServer`) from the same code, and
//! one client tour calling it the same way through both: hyper's HTTP client and a
//! `wskit_rest::RestClient`, both `tower::Service`s. Then the WebSocket server calls an API
//! the client serves, the other way over the same connection.
//!
//! Run with: cargo run -p example-petstore
//!
//! `--serve` keeps the servers running (HTTP on 127.0.0.1:8080, WebSocket on
//! 127.0.0.1:8081/rest) instead of running the tour; `RUST_LOG` sets the log level.

use example_petstore::{router, tour};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use wskit_rest::{ConnectionEvent, RestClient, RestConnection, RestServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let keep_serving = std::env::args().any(|arg| arg == "--serve");
    let (http_addr, ws_addr) = if keep_serving {
        ("127.0.0.1:8080", "127.0.0.1:8081")
    } else {
        ("127.0.0.1:0", "127.0.0.1:0")
    };

    // The same router, twice: plain HTTP ...
    let http = TcpListener::bind(http_addr).await?;
    let http_base = format!("http://{}", http.local_addr()?);
    tokio::spawn(async move { axum::serve(http, router()).await });
    // ... and over WebSocket.
    let ws = TcpListener::bind(ws_addr).await?;
    let ws_url = format!("ws://{}/rest", ws.local_addr()?);
    let server = RestServer::new(RestConnection::builder().serve(router()));
    let mut events = server.events();
    tokio::spawn({
        let server = server.clone();
        async move { server.serve(ws).await }
    });
    tracing::info!("petstore on {http_base} (HTTP) and {ws_url} (WebSocket)");
    if keep_serving {
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }

    // One tour over HTTP ...
    let http_client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    for line in tour(http_client, &http_base)
        .await
        .map_err(anyhow::Error::from_boxed)?
    {
        println!("http      {line}");
    }
    // ... and the same over WebSocket, with a client that also serves an API of its own.
    let client = RestClient::builder(wskit::Client::new(&ws_url))
        .metadata(serde_json::json!({"agent": "petstore-example"}))
        .rest(RestConnection::builder().serve(router()))
        .spawn();
    for line in tour(client.clone(), &http_base)
        .await
        .map_err(anyhow::Error::from_boxed)?
    {
        println!("websocket {line}");
    }

    // The server finds the client by its metadata and calls the API the client serves.
    let id = loop {
        if let ConnectionEvent::Received { id } = events.recv().await? {
            break id;
        }
    };
    let (_, conn) = server
        .find(|meta| meta["agent"] == "petstore-example")
        .pop()
        .ok_or_else(|| anyhow::anyhow!("the client is not registered"))?;
    for line in tour(conn, "http://agent")
        .await
        .map_err(anyhow::Error::from_boxed)?
    {
        println!("reverse   {line}");
    }
    println!("connection {id}: {:?}", server.metadata(&id));
    client.close().await;
    Ok(())
}
