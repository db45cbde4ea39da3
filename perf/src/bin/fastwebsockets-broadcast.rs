//! Broadcast server on fastwebsockets: every text or binary message a client sends goes to
//! every connected client, the sender included (`wskit bench broadcast --protocol raw`).
//!
//! As its `examples/echo_server_split.rs`: hyper serves the upgrade and the socket is split; the
//! reading half publishes to a `tokio::sync::broadcast` channel, the writing half (its own
//! task) writes every message of the channel. Each delivery is encoded per connection.

use fastwebsockets::{FragmentCollectorRead, Frame, OpCode, Payload, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use tokio::sync::broadcast::{self, Sender, error::RecvError};

type Hub = Sender<(OpCode, Bytes)>;

async fn handle_client(fut: upgrade::UpgradeFut, hub: Hub) -> Result<(), WebSocketError> {
    let ws = fut.await?;
    let (rx, mut tx) = ws.split(tokio::io::split);
    let mut rx = FragmentCollectorRead::new(rx);
    let mut deliveries = hub.subscribe();
    let writer = tokio::spawn(async move {
        loop {
            match deliveries.recv().await {
                Ok((opcode, data)) => {
                    let frame = Frame::new(true, opcode, None, Payload::Borrowed(&data));
                    if tx.write_frame(frame).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => break,
            }
        }
    });
    let result = loop {
        // The generator sends no pings, so there is nothing obligated to send.
        let frame = match rx
            .read_frame::<_, WebSocketError>(&mut |_| async { Ok(()) })
            .await
        {
            Ok(frame) => frame,
            Err(err) => break Err(err),
        };
        match frame.opcode {
            OpCode::Close => break Ok(()),
            OpCode::Text | OpCode::Binary => {
                let _ = hub.send((frame.opcode, Bytes::copy_from_slice(&frame.payload)));
            }
            _ => {}
        }
    };
    writer.abort();
    result
}

fn main() {
    wskit_perf_peers::runtime().block_on(async {
        let listener = wskit_perf_peers::bind().await;
        let (hub, _) = broadcast::channel::<(OpCode, Bytes)>(1024);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let hub = hub.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = service_fn(move |mut req: Request<Incoming>| {
                    let hub = hub.clone();
                    async move {
                        let (response, fut) = upgrade::upgrade(&mut req)?;
                        tokio::spawn(tokio::task::unconstrained(async move {
                            let _ = handle_client(fut, hub).await;
                        }));
                        Ok::<Response<Empty<Bytes>>, WebSocketError>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(io, service)
                    .with_upgrades()
                    .await;
            });
        }
    });
}
