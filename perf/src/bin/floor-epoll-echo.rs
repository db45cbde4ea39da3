//! The epoll floor: a bare tokio echo server that does only what echoing needs (the handshake,
//! unmasking, a frame header), with no validation and no limits. What the transport costs on
//! this machine with tokio's reactor; real servers are measured against it.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use wskit_perf_peers::floor;

fn main() {
    wskit_perf_peers::runtime().block_on(async {
        let listener = wskit_perf_peers::bind().await;
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(serve(stream));
        }
    });
}

async fn serve(mut stream: TcpStream) {
    let mut buf = vec![0; 64 * 1024];
    let mut filled = 0;
    let mut out = Vec::new();
    let mut upgraded = false;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        let mut start = 0;
        if !upgraded {
            let Some((response, len)) = floor::handshake(&buf[..filled]) else {
                continue;
            };
            out.extend_from_slice(&response);
            upgraded = true;
            start = len;
        }
        let echoed = floor::echo(&mut buf[start..filled], &mut out);
        let consumed = start + echoed.consumed;
        buf.copy_within(consumed..filled, 0);
        filled -= consumed;
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
        if echoed.close.is_some() {
            return;
        }
    }
}
