//! What it shows: one petstore API (an axum `Router` with its OpenAPI document from utoipa)
//! served over plain HTTP and over WebSocket from the same code and the same port (`GET /rest`
//! upgrades, and `wskit_rest::RestServer` serves the router on the connection), and one client
//! tour calling it the same way through both: hyper's HTTP client and a
//! `wskit_rest::RestClient`, both `tower::Service`s. Then the server finds the client by its
//! handshake metadata and calls the API the client serves, the other way over the same
//! connection.
//!
//! Run with: cargo run -p example-petstore
//!
//! `--serve` keeps the server running on 127.0.0.1:8080 instead of running the tour (try
//! `curl http://127.0.0.1:8080/openapi.json`); `RUST_LOG` sets the log level.

use axum::serve::ListenerExt;
use example_petstore::{app, router, tour};
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
    let addr = if keep_serving {
        "127.0.0.1:8080"
    } else {
        "127.0.0.1:0"
    };

    // The same router over plain HTTP and, at /rest, over WebSocket.
    let server = RestServer::new(RestConnection::builder().serve(router()));
    let mut events = server.events();
    let listener = TcpListener::bind(addr).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let ws_url = format!("ws://{}/rest", listener.local_addr()?);
    // Small requests and responses: no Nagle delay.
    tokio::spawn(
        axum::serve(
            listener.tap_io(|tcp| drop(tcp.set_nodelay(true))),
            app(server.clone()),
        )
        .into_future(),
    );
    tracing::info!("petstore on {base} (HTTP) and {ws_url} (WebSocket)");
    if keep_serving {
        tokio::signal::ctrl_c().await?;
        return Ok(());
    }

    // One tour over HTTP ...
    let http_client = HttpClient::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
    for line in tour(http_client, &base)
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
    for line in tour(client.clone(), &base)
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
