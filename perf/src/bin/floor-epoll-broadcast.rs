//! The broadcast floor: every data message a client sends goes to every connection, the sender
//! included (`wskit bench broadcast --protocol raw`), with nothing but what that needs: the
//! frame is built once and written straight into each socket from the reading task (a
//! connection's own writer task takes over only what a socket does not accept at once). One
//! `send` per delivery and no other work: what a fan-out costs the kernel on this machine, the
//! ceiling for every server.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::rc::Rc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use wskit_perf_peers::floor;

/// One connection as the fan-out sees it.
struct Peer {
    stream: TcpStream,
    /// Bytes the socket did not take; its writer task writes them.
    pending: RefCell<Vec<u8>>,
    wake: Notify,
}

type Peers = Rc<RefCell<HashMap<u64, Rc<Peer>>>>;

fn main() {
    let local = tokio::task::LocalSet::new();
    local.block_on(&wskit_perf_peers::runtime(), async {
        let listener = wskit_perf_peers::bind().await;
        let peers: Peers = Rc::default();
        for id in 0.. {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::task::spawn_local(serve(id, stream, peers.clone()));
        }
    });
}

async fn serve(id: u64, mut stream: TcpStream, peers: Peers) {
    let mut buf = vec![0; 64 * 1024];
    let mut filled = 0;
    // The handshake.
    let start = loop {
        match stream.read(&mut buf[filled..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => filled += n,
        }
        if let Some((response, len)) = floor::handshake(&buf[..filled]) {
            if stream.write_all(&response).await.is_err() {
                return;
            }
            break len;
        }
        if filled == buf.len() {
            return;
        }
    };
    buf.copy_within(start..filled, 0);
    filled -= start;
    let peer = Rc::new(Peer {
        stream,
        pending: RefCell::default(),
        wake: Notify::new(),
    });
    peers.borrow_mut().insert(id, peer.clone());
    let writer = tokio::task::spawn_local(write_pending(peer.clone()));
    let mut frames = Vec::new();
    loop {
        let echoed = floor::echo(&mut buf[..filled], &mut frames);
        buf.copy_within(echoed.consumed..filled, 0);
        filled -= echoed.consumed;
        let data = echoed.close.unwrap_or(frames.len());
        if data > 0 {
            for peer in peers.borrow().values() {
                deliver(peer, &frames[..data]);
            }
        }
        if echoed.close.is_some() {
            // The echoed close frame is this connection's alone.
            deliver(&peer, &frames[data..]);
            break;
        }
        frames.clear();
        if filled == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        if peer.stream.readable().await.is_err() {
            break;
        }
        match peer.stream.try_read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    peers.borrow_mut().remove(&id);
    writer.abort();
}

/// Writes `frames` into the peer's socket now, or leaves what it does not take to its writer.
fn deliver(peer: &Peer, frames: &[u8]) {
    let mut pending = peer.pending.borrow_mut();
    if !pending.is_empty() {
        pending.extend_from_slice(frames);
        return;
    }
    let written = match peer.stream.try_write(frames) {
        Ok(n) => n,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => 0,
        // The reading task sees the failure and ends the connection.
        Err(_) => return,
    };
    if written < frames.len() {
        pending.extend_from_slice(&frames[written..]);
        peer.wake.notify_one();
    }
}

/// Writes what `deliver` left behind, whenever there is some.
async fn write_pending(peer: Rc<Peer>) {
    loop {
        peer.wake.notified().await;
        while !peer.pending.borrow().is_empty() {
            if peer.stream.writable().await.is_err() {
                return;
            }
            let mut pending = peer.pending.borrow_mut();
            match peer.stream.try_write(&pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => return,
            }
        }
    }
}
