//! The chat protocol over real sockets on 127.0.0.1, with `wskit` clients: names, rooms,
//! room and private messages, the rooms listing, and the cleanup after a client vanishes.
//!
//! Every step awaits the line it expects; `within` only guards against a hang.

use std::net::SocketAddr;

use tokio::net::TcpStream;
use wskit::{MaybeTlsStream, Message, WebSocket};
use wskit_hub::{Hub, HubEvent};
use wskit_support::{listen, within};

/// A chat client: a `wskit` connection that sends lines and awaits replies.
struct Client {
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
}

impl Client {
    /// Connects and reads the welcome line.
    async fn connect(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}{}", example_chat_service::PATH);
        let (ws, _) = within(wskit::connect(&url)).await.expect("handshake");
        let mut client = Self { ws };
        let welcome = client.line().await;
        assert!(welcome.starts_with("* welcome, guest-"), "{welcome}");
        client
    }

    /// Connects and takes `name`.
    async fn named(addr: SocketAddr, name: &str) -> Self {
        let mut client = Self::connect(addr).await;
        assert_eq!(
            client.ask(&format!("/nick {name}")).await,
            format!("* you are {name}")
        );
        client
    }

    async fn send(&mut self, line: &str) {
        within(self.ws.send(Message::text(line)))
            .await
            .expect("send");
    }

    /// The next text message.
    async fn line(&mut self) -> String {
        within(self.ws.recv_text())
            .await
            .expect("a text message")
            .as_str()
            .to_owned()
    }

    /// Sends `line` and returns the next message.
    async fn ask(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await
    }
}

/// A hub with the chat service, served on a loopback port.
async fn serve() -> (Hub, SocketAddr) {
    let hub = Hub::new();
    example_chat_service::register(&hub).unwrap();
    let (listener, addr) = listen().await;
    tokio::spawn({
        let hub = hub.clone();
        async move { hub.serve(listener).await }
    });
    (hub, addr)
}

#[tokio::test]
async fn room_messages_reach_members_only() {
    let (_hub, addr) = serve().await;
    let mut alice = Client::named(addr, "alice").await;
    let mut bob = Client::named(addr, "bob").await;
    let mut carol = Client::named(addr, "carol").await;

    assert_eq!(
        alice.ask("/join rust").await,
        "* joined rust (1 in the room)"
    );
    assert_eq!(bob.ask("/join rust").await, "* joined rust (2 in the room)");
    assert_eq!(bob.ask("/join rust").await, "! you are in rust already");
    assert_eq!(carol.ask("/join go").await, "* joined go (1 in the room)");

    alice.send("hello, rustaceans").await;
    assert_eq!(alice.line().await, "[rust] alice: hello, rustaceans");
    assert_eq!(bob.line().await, "[rust] alice: hello, rustaceans");
    // Carol is not in `rust`: the next thing she gets is her own message to `go`.
    carol.send("anyone here?").await;
    assert_eq!(carol.line().await, "[go] carol: anyone here?");

    // A line goes to every room the sender is in.
    assert_eq!(bob.ask("/join go").await, "* joined go (2 in the room)");
    bob.send("hi both").await;
    let mut got = [bob.line().await, bob.line().await];
    got.sort();
    assert_eq!(got, ["[go] bob: hi both", "[rust] bob: hi both"]);
    assert_eq!(alice.line().await, "[rust] bob: hi both");
    assert_eq!(carol.line().await, "[go] bob: hi both");
}

#[tokio::test]
async fn private_messages_go_to_the_stored_name() {
    let (_hub, addr) = serve().await;
    let mut alice = Client::named(addr, "alice").await;
    let mut bob = Client::named(addr, "bob").await;

    assert_eq!(
        alice.ask("/msg bob psst, bob").await,
        "[pm to bob] psst, bob"
    );
    assert_eq!(bob.line().await, "[pm] alice: psst, bob");
    assert_eq!(
        alice.ask("/msg dave hello?").await,
        "! no one is called dave"
    );
    assert_eq!(alice.ask("/msg bob").await, "! usage: /msg NAME TEXT");

    // Renaming frees the old name and the new one reaches the same connection.
    assert_eq!(bob.ask("/nick robert").await, "* you are robert");
    assert_eq!(
        alice.ask("/msg bob still there?").await,
        "! no one is called bob"
    );
    assert_eq!(alice.ask("/msg robert hi").await, "[pm to robert] hi");
    assert_eq!(bob.line().await, "[pm] alice: hi");
}

#[tokio::test]
async fn a_name_held_by_an_open_connection_is_taken() {
    let (hub, addr) = serve().await;
    let mut alice = Client::named(addr, "alice").await;
    let mut other = Client::connect(addr).await;

    assert_eq!(other.ask("/nick alice").await, "! name alice is taken");
    assert_eq!(alice.ask("/nick alice").await, "* you are alice already");
    assert_eq!(
        other.ask("/nick two words").await.split(':').next(),
        Some("! usage")
    );
    let holder = hub.named("alice").expect("stored");
    // The message is queued before the reply to the command.
    assert_eq!(
        alice.ask("/msg alice note to self").await,
        "[pm] alice: note to self"
    );
    assert_eq!(alice.line().await, "[pm to alice] note to self");
    assert_eq!(hub.named("alice"), Some(holder));

    // Once alice renames, the name is free for the other client.
    assert_eq!(alice.ask("/nick alicia").await, "* you are alicia");
    assert_eq!(other.ask("/nick alice").await, "* you are alice");
    let names: Vec<_> = hub.names().into_iter().map(|(name, _)| name).collect();
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test]
async fn rooms_are_listed_with_their_sizes_and_leaving_works() {
    let (_hub, addr) = serve().await;
    let mut alice = Client::named(addr, "alice").await;
    let mut bob = Client::named(addr, "bob").await;

    assert_eq!(
        alice.ask("/rooms").await,
        "* no rooms yet: /join ROOM makes one"
    );
    alice.ask("/join rust").await;
    alice.ask("/join go").await;
    bob.ask("/join rust").await;
    assert_eq!(bob.ask("/rooms").await, "* rooms: go (1), rust (2)");

    assert_eq!(alice.ask("/leave rust").await, "* left rust");
    assert_eq!(alice.ask("/leave rust").await, "! you are not in rust");
    assert_eq!(bob.ask("/rooms").await, "* rooms: go (1), rust (1)");
    // Alice no longer gets `rust` messages: bob's message is followed by alice's own to `go`.
    bob.send("quiet now").await;
    assert_eq!(bob.line().await, "[rust] bob: quiet now");
    alice.send("still in go").await;
    assert_eq!(alice.line().await, "[go] alice: still in go");
    // A room goes away with its last member.
    assert_eq!(alice.ask("/leave go").await, "* left go");
    assert_eq!(alice.ask("/rooms").await, "* rooms: rust (1)");
    assert_eq!(
        alice.ask("lonely").await,
        "! you are in no room: /join ROOM first"
    );
    assert_eq!(
        alice.ask("/dance").await,
        "! unknown command /dance: try /help"
    );
}

#[tokio::test]
async fn a_client_that_vanishes_frees_its_name_and_leaves_its_rooms() {
    let (hub, addr) = serve().await;
    let mut alice = Client::named(addr, "alice").await;
    let mut bob = Client::named(addr, "bob").await;
    alice.ask("/join rust").await;
    bob.ask("/join rust").await;
    bob.ask("/join secret").await;
    assert_eq!(alice.ask("/rooms").await, "* rooms: rust (2), secret (1)");

    // Bob's process dies: the TCP connection ends without a close frame.
    let mut events = hub.events();
    let bob_id = hub.named("bob").expect("stored").id().clone();
    drop(bob);
    // `Closed` is sent after the hub removed the connection from everywhere.
    loop {
        match within(events.recv()).await.expect("the hub is alive") {
            HubEvent::Closed { id, code, .. } if id == bob_id => {
                assert_eq!(u16::from(code), 1006);
                break;
            }
            _ => {}
        }
    }

    assert!(hub.named("bob").is_none());
    assert_eq!(alice.ask("/rooms").await, "* rooms: rust (1)");
    assert_eq!(
        alice.ask("/msg bob are you there?").await,
        "! no one is called bob"
    );
    let mut new_bob = Client::named(addr, "bob").await;
    assert_eq!(
        alice.ask("/msg bob welcome back").await,
        "[pm to bob] welcome back"
    );
    assert_eq!(new_bob.line().await, "[pm] alice: welcome back");
    assert_eq!(hub.connection_count(), 2);
}
