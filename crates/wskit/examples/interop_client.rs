//! The client side of the interop tests: talks to an echo server (Python `websockets`, npm
//! `ws`, npm `websocket`) and checks every echo, the pong and the close code.
//!
//! Run with: `cargo run -p wskit --example interop_client -- ws://127.0.0.1:9001/ [--deflate]
//! [--expect-close CODE]`. Prints `ok` and exits 0, or prints the reason and exits 1.
//! The spec it follows is in `tests/peers/standin_client.py`.

use std::time::Duration;

use bytes::Bytes;
use wskit::{Client, CloseCode, Config, DeflateConfig, Message};

const MIB: usize = 1 << 20;
const STEP: Duration = Duration::from_secs(20);

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args.first().cloned().unwrap_or_default();
    let deflate = args.iter().any(|a| a == "--deflate");
    let expect_close = args
        .iter()
        .position(|a| a == "--expect-close")
        .and_then(|i| args.get(i + 1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(4000u16);
    match tokio::time::timeout(Duration::from_secs(60), run(&url, deflate, expect_close)).await {
        Ok(Ok(())) => println!("ok"),
        Ok(Err(reason)) => {
            eprintln!("{reason}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("gave up after 60 s");
            std::process::exit(1);
        }
    }
}

async fn run(url: &str, deflate: bool, expect_close: u16) -> Result<(), String> {
    let config = Config::default()
        .deflate(deflate.then(DeflateConfig::default))
        .handshake_timeout(Duration::from_secs(10))
        .close_timeout(Duration::from_secs(10));
    let (mut ws, _) = Client::new(url)
        .config(config)
        .connect()
        .await
        .map_err(|e| format!("connect: {e}"))?;
    if ws.is_compressed() != deflate {
        return Err(format!(
            "permessage-deflate negotiated: {}, wanted: {deflate}",
            ws.is_compressed()
        ));
    }
    for (name, msg) in messages() {
        ws.send(msg.clone())
            .await
            .map_err(|e| format!("{name}: send: {e}"))?;
        let echo = loop {
            let next = tokio::time::timeout(STEP, ws.recv())
                .await
                .map_err(|_| format!("{name}: no echo within {STEP:?}"))?;
            match next {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(other)) => break other,
                Some(Err(e)) => return Err(format!("{name}: {e}")),
                None => return Err(format!("{name}: connection closed")),
            }
        };
        if echo != msg {
            return Err(format!("{name}: the echo differs"));
        }
    }
    ws.ping(Bytes::from_static(b"wskit-ping"))
        .await
        .map_err(|e| format!("ping: {e}"))?;
    loop {
        let next = tokio::time::timeout(STEP, ws.recv())
            .await
            .map_err(|_| "no pong".to_owned())?;
        match next {
            Some(Ok(Message::Pong(data))) if &data[..] == b"wskit-ping" => break,
            Some(Ok(Message::Pong(_) | Message::Ping(_))) => {}
            Some(Ok(other)) => return Err(format!("expected a pong, got {other:?}")),
            Some(Err(e)) => return Err(format!("waiting for the pong: {e}")),
            None => return Err("closed while waiting for the pong".into()),
        }
    }
    ws.close(CloseCode::from(4000), "bye")
        .await
        .map_err(|e| format!("close: {e}"))?;
    let code = ws.peer_close().map(|f| u16::from(f.code));
    if code != Some(expect_close) {
        return Err(format!(
            "server's close code {code:?}, wanted {expect_close}"
        ));
    }
    Ok(())
}

fn messages() -> Vec<(&'static str, Message)> {
    // Deterministic pseudo-random data (xorshift64).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let random: Vec<u8> = (0..MIB).map(|_| next() as u8).collect();
    let alphabet = ["a", "b", " ", "é", "ß", "€", "ह", "𝄞", "😀"];
    let mut text = String::with_capacity(MIB);
    while text.len() < MIB - 4 {
        text.push_str(alphabet[(next() % alphabet.len() as u64) as usize]);
    }
    while text.len() < MIB {
        text.push('x');
    }
    vec![
        ("text hello", Message::text("hello")),
        ("utf-8 text", Message::text("héllo wörld €𝄞")),
        (
            "binary 0..255",
            Message::binary((0..=255u8).collect::<Vec<_>>()),
        ),
        ("empty text", Message::text("")),
        ("empty binary", Message::binary(Vec::new())),
        ("1 MiB binary", Message::binary(random)),
        ("1 MiB text", Message::text(text)),
    ]
}
