//! Echo server on tokio-tungstenite, as its `examples/echo-server.rs` writes it (split, filter
//! data messages, forward).

use futures_util::{StreamExt as _, TryStreamExt as _, future};

fn main() {
    wskit_perf_peers::runtime().block_on(async {
        let listener = wskit_perf_peers::bind().await;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                let (write, read) = ws.split();
                let _ = read
                    .try_filter(|msg| future::ready(msg.is_text() || msg.is_binary()))
                    .forward(write)
                    .await;
            });
        }
    });
}
