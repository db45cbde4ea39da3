//! `wskit connect` interactive mode end to end: the built binary under a pseudo-terminal
//! (rexpect), against WebSocket servers running in this process. The expect timeout is a hang
//! guard only; every step waits for the output it needs.
#![cfg(unix)]

use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::{PtySession, spawn_command};
use tokio::net::TcpListener;
use wskit::{CloseCode, Message};

const WSKIT: &str = env!("CARGO_BIN_EXE_wskit");

/// The hang guard for each expectation, in milliseconds.
const TIMEOUT_MS: u64 = 20_000;

/// The up-arrow key as a terminal sends it.
const UP: &str = "\x1b[A";

/// Starts a WebSocket server on its own thread (and runtime) that runs `serve` on every
/// connection; returns its URL. The thread ends with the test process.
fn server<F, Fut>(serve: F) -> String
where
    F: Fn(wskit::WebSocket<tokio::net::TcpStream>) -> Fut + Send + Copy + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the server");
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("ws://{}/", listener.local_addr().expect("local_addr"));
    std::thread::spawn(move || {
        runtime.block_on(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(async move {
                    if let Ok(ws) = wskit::accept(stream).await {
                        serve(ws).await;
                    }
                });
            }
        });
    });
    url
}

/// Echoes text and binary messages until the client closes.
async fn echo(mut ws: wskit::WebSocket<tokio::net::TcpStream>) {
    while let Some(Ok(msg)) = ws.recv().await {
        if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
            return;
        }
    }
}

/// `wskit connect URL` under a pseudo-terminal.
fn spawn_connect(url: &str) -> PtySession {
    let mut command = Command::new(WSKIT);
    command.args(["connect", url]).env("TERM", "xterm");
    spawn_command(command, Some(TIMEOUT_MS)).expect("spawn wskit connect under a pty")
}

/// Types `keys` (rexpect buffers `send` until a newline or a flush).
fn press(session: &mut PtySession, keys: &str) {
    session.send(keys).expect("write to the pty");
    session.flush().expect("flush the pty");
}

/// Waits for the process to exit; returns its exit code.
fn exit_code(session: &PtySession) -> i32 {
    match session.process().wait().expect("wait for wskit connect") {
        WaitStatus::Exited(_, code) => code,
        other => panic!("wskit connect did not exit normally: {other:?}"),
    }
}

#[test]
fn lines_are_echoed_history_recalls_and_ctrl_d_closes() {
    let url = server(echo);
    let mut session = spawn_connect(&url);
    session.exp_string("> ").expect("the prompt");

    press(&mut session, "hello tty\r");
    session.exp_string("< hello tty").expect("the echo");

    // Up recalls the line from history; Enter sends it again.
    press(&mut session, UP);
    press(&mut session, "\r");
    session.exp_string("< hello tty").expect("the second echo");

    session.send_control('d').expect("press Ctrl-D");
    session.exp_eof().expect("the end of output");
    assert_eq!(exit_code(&session), 0);
}

#[test]
fn ctrl_c_closes_with_status_0() {
    let url = server(echo);
    let mut session = spawn_connect(&url);
    session.exp_string("> ").expect("the prompt");
    press(&mut session, "half typed");
    session.exp_string("half typed").expect("the terminal echo");
    session.send_control('c').expect("press Ctrl-C");
    session.exp_eof().expect("the end of output");
    assert_eq!(exit_code(&session), 0);
}

#[test]
fn a_close_from_the_server_ends_the_prompt_and_is_reported() {
    let url = server(|mut ws| async move {
        // Wait for the client's first line, answer, then close with 1011.
        let _ = ws.recv().await;
        let _ = ws.send(Message::text("bye")).await;
        let _ = ws.close(CloseCode::INTERNAL_ERROR, "boom").await;
    });
    let mut session = spawn_connect(&url);
    session.exp_string("> ").expect("the prompt");
    press(&mut session, "hi\r");
    session.exp_string("< bye").expect("the answer");
    session
        .exp_string("closed: 1011 boom")
        .expect("the close notice");
    session.exp_eof().expect("the end of output");
    assert_eq!(exit_code(&session), 1);
}

#[test]
fn the_first_message_of_a_server_that_speaks_first_shows_on_its_own_line() {
    let url = server(|mut ws| async move {
        let _ = ws.send(Message::text("welcome id=42")).await;
        echo(ws).await;
    });
    let mut session = spawn_connect(&url);
    // Its own line: the prompt drawn after it must not overwrite it.
    session
        .exp_regex(r"< welcome id=42\r?\n")
        .expect("the server's first message, ended by a newline");
    session.exp_string("> ").expect("the prompt");
    press(&mut session, "after\r");
    session.exp_string("< after").expect("the echo");
    session.send_control('d').expect("press Ctrl-D");
    session.exp_eof().expect("the end of output");
    assert_eq!(exit_code(&session), 0);
}

/// The close codes and reasons the `/close` test's server received.
static CLOSES: std::sync::Mutex<Vec<(u16, String)>> = std::sync::Mutex::new(Vec::new());

#[test]
fn ping_and_close_commands() {
    let url = server(|mut ws| async move {
        while let Some(Ok(msg)) = ws.recv().await {
            if let Message::Close(frame) = &msg {
                let frame = frame
                    .as_ref()
                    .map(|f| (u16::from(f.code), f.reason.as_str().to_owned()));
                CLOSES.lock().expect("the list of closes").extend(frame);
            } else if msg.is_text() && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    let mut session = spawn_connect(&url);
    session.exp_string("> ").expect("the prompt");
    press(&mut session, "/ping hello\r");
    session
        .exp_regex(r#"pong "hello" \([0-9.]+ ms\)"#)
        .expect("the pong and its round trip");
    press(&mut session, "//not a command\r");
    session
        .exp_string("< /not a command")
        .expect("a line sent with its leading slash");
    press(&mut session, "/nope\r");
    session
        .exp_string("unknown command /nope")
        .expect("an unknown command, refused");
    press(&mut session, "/close 4000 see you\r");
    session.exp_eof().expect("the end of output");
    assert_eq!(exit_code(&session), 0);
    assert_eq!(
        *CLOSES.lock().expect("the list of closes"),
        [(4000, "see you".to_owned())]
    );
}
