//! The interactive mode of `wskit connect`, when stdin and stdout are terminals: a `> ` prompt
//! with line editing and in-memory history (rustyline), messages received printed above the line
//! being edited as `< text`, and Ctrl-D or Ctrl-C starting the closing handshake (exit 0).
//!
//! # Threads
//!
//! `readline` blocks, so the editor runs on its own thread and hands each line to the relay
//! over a channel ([`Input`]). The relay prints through rustyline's external printer
//! ([`Output`]), which redraws the prompt and the half-typed line below each message.
//!
//! When the connection ends while `readline` still waits for a key, the editor thread must be
//! woken so that rustyline restores the terminal (cooked mode, bracketed paste off) before we
//! exit. rustyline has no cancel call, but while `readline` runs it handles SIGINT by returning
//! `Interrupted`, so [`session`] raises SIGINT until the thread is gone. Outside `readline`,
//! SIGINT goes to the tokio handler installed first, which only counts it.
//!
//! No history file is written: lines sent over a WebSocket often carry tokens, and a file of
//! them in the home directory would surprise.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use rustyline::error::ReadlineError;
use rustyline::{DefaultEditor, ExternalPrinter};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;

use super::{ConnectArgs, Output as RelayOutput, Request, exit_status, relay};

/// Runs an interactive session on the open connection; returns the exit status.
pub(super) async fn session(
    mut ws: wskit::WebSocket<wskit::MaybeTlsStream>,
    args: &ConnectArgs,
) -> i32 {
    // First, so that rustyline saves this handler and puts it back after each `readline`.
    let sigint = match signal(SignalKind::interrupt()) {
        Ok(sigint) => sigint,
        Err(err) => {
            eprintln!("error: installing the SIGINT handler: {err}");
            return 1;
        }
    };
    let (editor, printer) = match editor() {
        Ok(pair) => pair,
        Err(err) => {
            eprintln!("error: {err:#}");
            return 1;
        }
    };
    eprintln!(
        "connected to {} (Ctrl-D or Ctrl-C closes; /help lists the commands)",
        args.url
    );
    let (lines, rx) = mpsc::unbounded_channel();
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::spawn({
        let stop = Arc::clone(&stop);
        move || edit(editor, &lines, &stop)
    });
    let mut input = super::Input::Terminal(Input { rx, sigint });
    let mut output = RelayOutput::Terminal(Output { printer });
    let relayed = relay(&mut ws, args, &mut input, &mut output).await;

    let (super::Input::Terminal(mut input), RelayOutput::Terminal(mut output)) = (input, output)
    else {
        unreachable!("built as terminal input and output above")
    };
    if !thread.is_finished() {
        // Everything printed so far must be on the screen before `readline` gives up.
        output.barrier();
        stop.store(true, Ordering::SeqCst);
        input.stop_editor(&thread).await;
    }
    drop(output);
    if thread.join().is_err() {
        eprintln!("error: the line editor panicked");
    }
    exit_status(relayed)
}

/// Lines from the editor thread, and SIGINT outside `readline`.
pub(super) struct Input {
    rx: mpsc::UnboundedReceiver<Request>,
    sigint: Signal,
}

/// Prints above the prompt of the editor thread.
pub(super) struct Output {
    printer: Box<dyn ExternalPrinter + Send>,
}

/// The line editor and a printer for its terminal.
fn editor() -> anyhow::Result<(DefaultEditor, Box<dyn ExternalPrinter + Send>)> {
    let config = rustyline::Config::builder()
        .max_history_size(1000)
        .context("history size")?
        .history_ignore_dups(true)
        .context("history setting")?
        .history_ignore_space(true)
        // No cursor position query: its 100 ms wait for the answer would swallow a key typed
        // meanwhile, and our notice before the prompt ends its line anyway.
        .check_cursor_position(false)
        .build();
    let mut editor = DefaultEditor::with_config(config).context("starting the line editor")?;
    let printer = editor
        .create_external_printer()
        .context("printing above the prompt (is TERM a real terminal?)")?;
    Ok((editor, Box::new(printer)))
}

/// The editor thread: reads lines until Ctrl-D, Ctrl-C, an error or `stop`.
fn edit(mut editor: DefaultEditor, lines: &mpsc::UnboundedSender<Request>, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match editor.readline(PROMPT) {
            Ok(line) if line.is_empty() => {}
            Ok(line) => {
                // A failed add (a duplicate, a leading space) only leaves history as it was.
                let _ = editor.add_history_entry(line.as_str());
                if lines.send(Request::Typed(line)).is_err() {
                    return;
                }
            }
            Err(ReadlineError::Eof | ReadlineError::Interrupted) => break,
            Err(err) => {
                eprintln!("error: reading the terminal: {err}");
                break;
            }
        }
    }
    let _ = lines.send(Request::End);
}

// ===== impl Input =====

impl Input {
    /// The next line, or [`Request::End`] once the editor is done or SIGINT came.
    pub(super) async fn next(&mut self) -> Request {
        tokio::select! {
            line = self.rx.recv() => line.unwrap_or(Request::End),
            _ = self.sigint.recv() => Request::End,
        }
    }

    /// Wakes the editor thread out of `readline` (see the module docs) until it has ended.
    async fn stop_editor(&mut self, thread: &JoinHandle<()>) {
        while !thread.is_finished() {
            // `readline`'s handler makes it return `Interrupted`; between two `readline`s the
            // thread sees `stop`, and tokio's handler takes the signal.
            if let Err(err) = nix::sys::signal::raise(nix::sys::signal::Signal::SIGINT) {
                eprintln!("error: waking the line editor: {err}");
                return;
            }
            // The thread drops its sender when it ends; lines still in flight are dropped.
            let drained = async { while self.rx.recv().await.is_some() {} };
            let _ = tokio::time::timeout(STOP_RETRY, drained).await;
        }
    }
}

// ===== impl Output =====

impl Output {
    /// Prints a line above the prompt.
    ///
    /// The line gets its newline here: while the editor is not in `readline` (before the
    /// first prompt, say), rustyline writes it to the terminal as it is, and the prompt drawn
    /// next would overwrite a line left without one (a server's first message, sent as the
    /// connection opens, was lost that way).
    pub(super) fn print(&mut self, mut line: String) -> anyhow::Result<()> {
        if !line.ends_with('\n') {
            line.push('\n');
        }
        self.printer.print(line).context("printing to the terminal")
    }

    /// Returns once everything printed before is on the screen.
    ///
    /// rustyline's printer hands lines to the editor thread through a channel of one; a line
    /// left in it when `readline` returns is never shown. A print returns once the line
    /// before it was taken, and the editor thread writes a line it took before it looks at
    /// signals again. So printing one more line that shows nothing (cursor up, then a newline
    /// back down to column 0, where the prompt is redrawn) leaves only itself at risk.
    fn barrier(&mut self) {
        let _ = self.printer.print(INVISIBLE.to_owned());
    }
}

/// The prompt, as wscat's.
const PROMPT: &str = "> ";

/// How long to wait for the editor thread after each SIGINT.
const STOP_RETRY: Duration = Duration::from_millis(100);

/// Cursor up one line, newline: a line that prints nothing (see [`Output::barrier`]).
const INVISIBLE: &str = "\x1b[1A\n";
