//! What the peer servers share: the `--listen ADDR` flag, the line that announces the bound
//! address (the same one `wskit echo` prints, so `scripts/perf.py` reads every server alike),
//! and the single-threaded runtime.

use std::net::SocketAddr;

use tokio::net::TcpListener;

#[cfg(target_os = "linux")]
pub mod uring;

/// The address given with `--listen ADDR` (default `127.0.0.1:0`, any free port).
///
/// # Panics
/// On an unknown flag or an address that does not parse: these are command-line tools.
#[must_use]
pub fn listen_addr() -> SocketAddr {
    listen_addr_with(&[])
}

/// [`listen_addr`] for a server that also takes the flags in `known` (which it reads itself).
///
/// # Panics
/// As [`listen_addr`].
#[must_use]
pub fn listen_addr_with(known: &[&str]) -> SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut addr = "127.0.0.1:0".to_owned();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => addr = args.next().expect("--listen needs an address"),
            flag if known.contains(&flag) => {}
            other => panic!("unknown argument `{other}` (usage: --listen ADDR)"),
        }
    }
    addr.parse().expect("--listen takes IP:PORT")
}

/// Binds `--listen` and prints `listening on ws://ADDR` with the port actually bound.
///
/// # Panics
/// When the address cannot be bound.
pub async fn bind() -> TcpListener {
    let listener = TcpListener::bind(listen_addr())
        .await
        .expect("binding --listen");
    let addr = listener
        .local_addr()
        .expect("a bound socket has an address");
    println!("listening on ws://{addr}");
    listener
}

/// A current-thread runtime with I/O (and timers, which some stacks need), like `wskit echo`
/// runs with `--threads 1`.
///
/// # Panics
/// When the runtime cannot be built.
#[must_use]
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the runtime")
}

/// The bare minimum of the WebSocket protocol, for the floor servers (`floor-epoll-echo`,
/// `floor-uring-echo`): what a server must do to echo at all, and nothing more. No UTF-8
/// validation, no limits, no fragmentation rules, no close handshake state: these servers
/// measure what the transport costs, so that the table shows how far above that floor each real
/// server sits. Never a model for a real server.
pub mod floor {
    use base64::Engine as _;

    /// The `101` response to the upgrade request at the start of `buf`, and the request's
    /// length; `None` while the head is incomplete. A request without `Sec-WebSocket-Key` gets
    /// a response with an empty accept value (the generator then fails, loudly).
    #[must_use]
    pub fn handshake(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
        let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = std::str::from_utf8(&buf[..end]).unwrap_or("");
        let key = head
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("sec-websocket-key")
                    .then(|| value.trim())
            })
            .unwrap_or("");
        let mut sha = sha1_smol::Sha1::new();
        sha.update(key.as_bytes());
        sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
        let accept = base64::engine::general_purpose::STANDARD.encode(sha.digest().bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        Some((response.into_bytes(), end))
    }

    /// What [`echo`] did with the bytes it was given.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Echoed {
        /// Bytes of complete frames taken from the front of the buffer.
        pub consumed: usize,
        /// A close frame came, and its echo starts at this offset of `out` (it is the last
        /// thing there): the connection is done once it is written.
        pub close: Option<usize>,
    }

    /// Unmasks every complete client frame at the front of `buf` and appends its echo to `out`:
    /// data and close frames go back as they came (a close is echoed with its payload), a ping
    /// goes back as a pong, a pong is dropped.
    pub fn echo(buf: &mut [u8], out: &mut Vec<u8>) -> Echoed {
        let mut pos = 0;
        while let Some((header, len)) = frame_len(&buf[pos..]) {
            let frame = &mut buf[pos..pos + header + len];
            let b0 = frame[0];
            let masked = frame[1] & 0x80 != 0;
            let (head, payload) = frame.split_at_mut(header);
            if masked {
                unmask(payload, head[header - 4..].try_into().expect("four bytes"));
            }
            pos += header + len;
            let opcode = b0 & 0x0f;
            if opcode == 0xA {
                continue;
            }
            let b0 = if opcode == 0x9 { (b0 & 0xf0) | 0xA } else { b0 };
            let start = out.len();
            out.push(b0);
            if len < 126 {
                out.push(len as u8);
            } else if let Ok(len) = u16::try_from(len) {
                out.push(126);
                out.extend_from_slice(&len.to_be_bytes());
            } else {
                out.push(127);
                out.extend_from_slice(&(len as u64).to_be_bytes());
            }
            out.extend_from_slice(payload);
            if opcode == 0x8 {
                return Echoed {
                    consumed: pos,
                    close: Some(start),
                };
            }
        }
        Echoed {
            consumed: pos,
            close: None,
        }
    }

    /// XORs `payload` with the mask `key`, eight bytes at a time (the compiler vectorises it).
    fn unmask(payload: &mut [u8], key: [u8; 4]) {
        let wide = u64::from_ne_bytes([
            key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
        ]);
        let mut chunks = payload.chunks_exact_mut(8);
        for chunk in &mut chunks {
            let word = u64::from_ne_bytes((&*chunk).try_into().expect("eight bytes")) ^ wide;
            chunk.copy_from_slice(&word.to_ne_bytes());
        }
        // The rest starts at a multiple of 8, so at the key's first byte.
        for (byte, k) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
            *byte ^= k;
        }
    }

    /// The header length and payload length of the frame at the front of `buf`, once all of
    /// it is there.
    fn frame_len(buf: &[u8]) -> Option<(usize, usize)> {
        let second = *buf.get(1)?;
        let mask: usize = if second & 0x80 != 0 { 4 } else { 0 };
        let (header, len) = match second & 0x7f {
            126 => (
                4,
                usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            ),
            127 => (
                10,
                usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?,
            ),
            len => (2, usize::from(len)),
        };
        let header = header + mask;
        (buf.len() >= header.checked_add(len)?).then_some((header, len))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_accept_key_is_rfc_6455s_example() {
            let req = b"GET / HTTP/1.1\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nX";
            let (response, len) = handshake(req).unwrap();
            assert_eq!(len, req.len() - 1);
            let response = String::from_utf8(response).unwrap();
            assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
            assert!(handshake(&req[..20]).is_none());
        }

        #[test]
        fn masked_frames_come_back_unmasked_and_a_partial_one_waits() {
            // "Hello" masked with 37 fa 21 3d (RFC 6455 §5.7), then half of another frame.
            let mut buf = vec![
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ];
            buf.extend_from_slice(&[0x82, 0x85, 0, 0]);
            let mut out = Vec::new();
            let echoed = echo(&mut buf, &mut out);
            assert_eq!(
                echoed,
                Echoed {
                    consumed: 11,
                    close: None
                }
            );
            assert_eq!(out, b"\x81\x05Hello");
        }

        #[test]
        fn unmasking_eight_at_a_time_matches_byte_by_byte() {
            let key = [0x37, 0xfa, 0x21, 0x3d];
            for len in 0..40 {
                let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
                let mut wide = data.clone();
                unmask(&mut wide, key);
                let bytewise: Vec<u8> = data
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ key[i % 4])
                    .collect();
                assert_eq!(wide, bytewise, "length {len}");
            }
        }
    }
}
