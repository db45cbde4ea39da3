//! Echo server on tokio-websockets, as its `examples/echo_server.rs` writes it.

use futures_util::{SinkExt as _, StreamExt as _};
use tokio_websockets::ServerBuilder;

fn main() {
    wskit_perf_peers::runtime().block_on(async {
        let listener = wskit_perf_peers::bind().await;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(tokio::task::unconstrained(async move {
                let Ok((_request, mut ws)) = ServerBuilder::new().accept(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        break;
                    }
                }
            }));
        }
    });
}
