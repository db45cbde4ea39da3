//! The futures of a connection's task: the handshake, then the driver, then the clean-up.
//!
//! Every idle connection holds its task's future in a tokio task allocation sized to it, so
//! these are state machines written out rather than `async` blocks. An `async` block keeps each
//! variable it captured in a place of its own for its whole life (the handshake's arguments and
//! the socket next to the driver that took them over, the clean-up's state next to the driver);
//! an enum holds one state at a time. The handshake and the clean-up are boxed futures of their
//! own, allocated while they run.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::driver::Driver;
use crate::error::Error;
use crate::hub::{Hub, Live};

/// A boxed future that lives only while one phase of the connection does.
type Phase<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// An upgraded connection, from its registration until its clean-up has finished.
pub(crate) struct Run<S> {
    state: RunState<S>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "the large variant is the connection's life; boxing it would add an allocation"
)]
enum RunState<S> {
    /// The connection is open; `Live` counts it until the clean-up is done.
    Driving(Driver<S>, Live),
    /// The socket is closed: registry, counters, events, then `on_close`.
    Finishing(Phase<()>),
    Done,
}

/// A transport from its upgrade request until the connection's end ([`Hub::accept`]).
pub(crate) struct Accept<S> {
    state: AcceptState<S>,
}

#[allow(
    clippy::large_enum_variant,
    reason = "the large variant is the connection's life; boxing it would add an allocation"
)]
enum AcceptState<S> {
    /// Reading the request, routing, admitting, answering; the connection is registered at
    /// the end.
    Handshake(Phase<Result<Run<S>, Error>>),
    Running(Run<S>),
    Done,
}

// ===== impl Run =====

impl<S> Run<S> {
    pub(crate) fn new(driver: Driver<S>, live: Live) -> Self {
        Self {
            state: RunState::Driving(driver, live),
        }
    }
}

impl<S> Future for Run<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Every state is `Unpin` (the driver is, with an `Unpin` transport).
        let this = self.get_mut();
        loop {
            match &mut this.state {
                RunState::Driving(driver, _) => {
                    let outcome = ready!(driver.poll_run(cx));
                    let RunState::Driving(driver, live) =
                        std::mem::replace(&mut this.state, RunState::Done)
                    else {
                        unreachable!("matched above");
                    };
                    // The socket closes now, before `on_close` runs.
                    let (conn, hub) = driver.into_parts();
                    let hub = Hub::from_inner(hub);
                    this.state = RunState::Finishing(Box::pin(async move {
                        hub.finish(&conn, outcome).await;
                        drop(live);
                    }));
                }
                RunState::Finishing(finish) => {
                    ready!(finish.as_mut().poll(cx));
                    this.state = RunState::Done;
                }
                RunState::Done => return Poll::Ready(()),
            }
        }
    }
}

// ===== impl Accept =====

impl<S> Accept<S> {
    /// The task of a transport whose `handshake` resolves to its registered connection.
    pub(crate) fn new(handshake: Phase<Result<Run<S>, Error>>) -> Self {
        Self {
            state: AcceptState::Handshake(handshake),
        }
    }
}

impl<S> Future for Accept<S>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    type Output = Result<(), Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                AcceptState::Handshake(handshake) => match ready!(handshake.as_mut().poll(cx)) {
                    Ok(run) => this.state = AcceptState::Running(run),
                    Err(err) => {
                        this.state = AcceptState::Done;
                        return Poll::Ready(Err(err));
                    }
                },
                AcceptState::Running(run) => {
                    ready!(Pin::new(run).poll(cx));
                    this.state = AcceptState::Done;
                    return Poll::Ready(Ok(()));
                }
                AcceptState::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}
