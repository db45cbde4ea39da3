//! What it shows: requests per second over one connection, `wskit-rest.v1` against HTTP/1.1
//! keep-alive with hyper, same server code, same machine, same run.
//!
//! Run with: cargo run --release -p example-petstore --bin rest-bench -- \[REQUESTS\]
//!
//! One axum app answers `GET /ping` over plain HTTP and, at `/rest`, over WebSocket. The
//! client sends REQUESTS requests (default 20000) through one connection: hyper's HTTP/1.1
//! connection one at a time (it cannot pipeline), ours one at a time and then 32 at once (the
//! streams of one connection), through a plain `RestConnection` and through a `RestClient`.

use std::time::Instant;

use axum::routing::get;
use axum::serve::ListenerExt;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower::{Service, ServiceExt};
use wskit_rest::{Body, PROTOCOL, RestConnection, RestServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let requests: usize = std::env::args().nth(1).map_or(Ok(20_000), |n| n.parse())?;
    let api = || axum::Router::new().route("/ping", get(|| async { "pong" }));
    let server = RestServer::new(RestConnection::builder().serve(api()));
    let upgrade = move |ws: wskit::axum::WebSocketUpgrade| async move {
        ws.protocols([PROTOCOL])
            .on_upgrade(move |socket| async move {
                let _ = server.accept_websocket(socket).await;
            })
    };
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    // Small requests and responses: no Nagle delay.
    tokio::spawn(
        axum::serve(
            listener.tap_io(|tcp| drop(tcp.set_nodelay(true))),
            api().route("/rest", get(upgrade)),
        )
        .into_future(),
    );

    // hyper, HTTP/1.1 keep-alive, one connection.
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let started = Instant::now();
    for _ in 0..requests {
        let request = http::Request::get("/ping")
            .header("host", addr.to_string())
            .body(Empty::<Bytes>::new())?;
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        response.into_body().collect().await?;
    }
    let hyper_rate = rate(requests, started);

    // Ours, one connection: a plain `RestConnection`, then a `RestClient` (the reconnecting
    // client's queue and tasks in the path).
    let client = wskit::Client::new(format!("ws://{addr}/rest")).protocols([PROTOCOL]);
    let (mut ws, _) = client.connect().await?;
    wskit_rest::swagger::client_handshake(&mut ws, &serde_json::Value::Null).await?;
    let plain = RestConnection::builder().multiplexed(ws);
    let (plain_sequential, plain_concurrent) = measure(&plain, requests).await?;
    plain.close();
    let client =
        wskit_rest::RestClient::builder(wskit::Client::new(format!("ws://{addr}/rest"))).spawn();
    let (sequential, concurrent) = measure(client.connection(), requests).await?;
    client.close().await;

    println!("{requests} requests over one connection, GET /ping, 127.0.0.1");
    println!("hyper HTTP/1.1 keep-alive, sequential:    {hyper_rate:>9.0} req/s");
    for (name, rate) in [
        ("RestConnection, sequential:", plain_sequential),
        ("RestConnection, 32 in flight:", plain_concurrent),
        ("RestClient, sequential:", sequential),
        ("RestClient, 32 in flight:", concurrent),
    ] {
        println!(
            "wskit-rest.v1 {name:<28}{rate:>9.0} req/s  ({:.2}x hyper)",
            rate / hyper_rate
        );
    }
    Ok(())
}

/// Requests per second through `conn`: one at a time, then 32 at once.
async fn measure(conn: &RestConnection, requests: usize) -> anyhow::Result<(f64, f64)> {
    ping(conn.clone()).await?; // connected and warmed up
    let started = Instant::now();
    for _ in 0..requests {
        ping(conn.clone()).await?;
    }
    let sequential = rate(requests, started);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let conn = conn.clone();
        let share = requests / 32 + usize::from(worker < requests % 32);
        tasks.push(tokio::spawn(async move {
            for _ in 0..share {
                ping(conn.clone()).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((sequential, rate(requests, started)))
}

async fn ping(mut conn: RestConnection) -> anyhow::Result<()> {
    let request = http::Request::get("/ping").body(Body::empty())?;
    let response = ServiceExt::<http::Request<Body>>::ready(&mut conn)
        .await?
        .call(request)
        .await?;
    anyhow::ensure!(response.status() == 200, "status {}", response.status());
    response
        .into_body()
        .collect()
        .await
        .map_err(anyhow::Error::from_boxed)?;
    Ok(())
}

fn rate(requests: usize, started: Instant) -> f64 {
    requests as f64 / started.elapsed().as_secs_f64()
}
