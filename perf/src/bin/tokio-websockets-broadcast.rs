//! Broadcast server on tokio-websockets: every text or binary message a client sends goes to
//! every connected client, the sender included (`wskit bench broadcast --protocol raw`).
//!
//! Each connection is one task that selects between its socket and a `tokio::sync::broadcast`
//! receiver, as tokio's docs suggest for fan-out; each delivery is encoded per connection.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_websockets::{Message, ServerBuilder};

fn main() {
    wskit_perf_peers::runtime().block_on(async {
        let listener = wskit_perf_peers::bind().await;
        let (hub, _) = broadcast::channel::<Message>(1024);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let hub = hub.clone();
            tokio::spawn(tokio::task::unconstrained(async move {
                let Ok((_request, mut ws)) = ServerBuilder::new().accept(stream).await else {
                    return;
                };
                let mut deliveries = hub.subscribe();
                loop {
                    tokio::select! {
                        msg = ws.next() => match msg {
                            Some(Ok(msg)) if msg.is_text() || msg.is_binary() => {
                                let _ = hub.send(msg);
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                        delivery = deliveries.recv() => match delivery {
                            Ok(msg) => {
                                if ws.send(msg).await.is_err() {
                                    break;
                                }
                            }
                            Err(RecvError::Lagged(_)) => {}
                            Err(RecvError::Closed) => break,
                        },
                    }
                }
            }));
        }
    });
}
