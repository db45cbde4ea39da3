//! The JSON protocol of `wskit serve` on `/ws`, through the built binary: every message type,
//! every error code, the size limit, names and groups after a disconnect, origins, `/echo`.

mod support;

use serde_json::{Value, json};
use support::*;
use wskit::Message;

#[tokio::test]
async fn welcome_join_and_publish_reach_every_member_including_the_sender() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    let mut outsider = Client::connect(&server).await;
    assert_eq!(a.id.len(), 32);
    assert_ne!(a.id, b.id);

    assert_eq!(
        a.call(json!({"type":"join","group":"room","ref":1})).await,
        json!({"type":"ack","ref":1})
    );
    assert_eq!(
        b.call(json!({"type":"join","group":"room","ref":"b1"}))
            .await,
        json!({"type":"ack","ref":"b1"})
    );
    a.send(json!({"type":"publish","group":"room","data":{"text":"hi","n":[1,2]},"ref":2}))
        .await;
    let delivery =
        json!({"type":"message","group":"room","from":a.id,"data":{"text":"hi","n":[1,2]}});
    assert_eq!(a.recv().await, delivery);
    assert_eq!(a.recv().await, json!({"type":"ack","ref":2}));
    assert_eq!(b.recv().await, delivery);

    // Without a ref there is no ack; the outsider got nothing meanwhile.
    b.send(json!({"type":"publish","group":"room","data":null}))
        .await;
    let second = json!({"type":"message","group":"room","from":b.id,"data":null});
    assert_eq!(b.recv().await, second);
    assert_eq!(a.recv().await, second);
    assert_eq!(
        outsider
            .call(json!({"type":"presence","group":"room","ref":0}))
            .await["members"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "the outsider's first message is this answer"
    );
}

#[tokio::test]
async fn publishing_to_a_group_you_are_not_in_is_refused() {
    let server = Server::start(&[]);
    let mut member = Client::connect(&server).await;
    let mut other = Client::connect(&server).await;
    member
        .call(json!({"type":"join","group":"g","ref":1}))
        .await;
    let answer = other
        .call(json!({"type":"publish","group":"g","data":"x","ref":7}))
        .await;
    assert_eq!(answer["type"], "error");
    assert_eq!(answer["code"], "not_member");
    assert_eq!(answer["ref"], 7);
    // Nothing reached the member: its next message answers its own request.
    assert_eq!(
        member
            .call(json!({"type":"presence","group":"g","ref":2}))
            .await["type"],
        "presence"
    );
}

#[tokio::test]
async fn leave_stops_deliveries_and_leaving_again_is_an_error() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.call(json!({"type":"join","group":"g","ref":1})).await;
    b.call(json!({"type":"join","group":"g","ref":1})).await;
    assert_eq!(
        b.call(json!({"type":"leave","group":"g","ref":2})).await,
        json!({"type":"ack","ref":2})
    );
    let again = b.call(json!({"type":"leave","group":"g","ref":3})).await;
    assert_eq!(
        (again["code"].clone(), again["ref"].clone()),
        (json!("not_member"), json!(3))
    );
    a.call(json!({"type":"publish","group":"g","data":1})).await;
    // b is out: its next message is the answer to this.
    assert_eq!(
        b.call(json!({"type":"presence","group":"g","ref":4})).await["members"],
        json!([{"id": a.id, "name": null}])
    );
}

#[tokio::test]
async fn send_reaches_one_connection_by_id_or_name() {
    let server = Server::start(&[]);
    let mut alice = Client::connect(&server).await;
    let mut bob = Client::connect(&server).await;
    assert_eq!(
        bob.call(json!({"type":"name","name":"bob","ref":1})).await,
        json!({"type":"ack","ref":1})
    );
    alice
        .send(json!({"type":"send","to":bob.id,"data":"by id","ref":1}))
        .await;
    assert_eq!(alice.recv().await, json!({"type":"ack","ref":1}));
    assert_eq!(
        bob.recv().await,
        json!({"type":"message","group":null,"from":alice.id,"data":"by id"})
    );
    alice
        .send(json!({"type":"send","to":"bob","data":{"k":true}}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type":"message","group":null,"from":alice.id,"data":{"k":true}})
    );
    let missing = alice
        .call(json!({"type":"send","to":"nobody","data":1,"ref":"m"}))
        .await;
    assert_eq!(missing["code"], "not_found");
    assert_eq!(missing["ref"], "m");
}

#[tokio::test]
async fn names_are_unique_and_a_rename_frees_the_old_one() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.call(json!({"type":"name","name":"alice","ref":1})).await;
    let taken = b.call(json!({"type":"name","name":"alice","ref":2})).await;
    assert_eq!(taken["code"], "name_taken");
    assert_eq!(taken["ref"], 2);
    // Taking your own name again is fine; a new name frees the old one.
    assert_eq!(
        a.call(json!({"type":"name","name":"alice","ref":3})).await["type"],
        "ack"
    );
    a.call(json!({"type":"name","name":"alicia","ref":4})).await;
    assert_eq!(
        b.call(json!({"type":"name","name":"alice","ref":5})).await,
        json!({"type":"ack","ref":5})
    );
    let id_like = "0123456789abcdef0123456789abcdef";
    let invalid = b.call(json!({"type":"name","name":id_like,"ref":6})).await;
    assert_eq!(invalid["code"], "invalid_field");
}

#[tokio::test]
async fn presence_lists_ids_and_names_and_forgets_those_who_left() {
    let server = Server::start(&[]);
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.call(json!({"type":"name","name":"alice","ref":1})).await;
    a.call(json!({"type":"join","group":"g","ref":2})).await;
    b.call(json!({"type":"join","group":"g","ref":3})).await;
    let presence = a
        .call(json!({"type":"presence","group":"g","ref":"p"}))
        .await;
    let mut expected = vec![
        json!({"id": a.id, "name": "alice"}),
        json!({"id": b.id, "name": null}),
    ];
    expected.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    assert_eq!(
        presence,
        json!({"type":"presence","ref":"p","group":"g","members":expected})
    );
    assert_eq!(
        a.call(json!({"type":"presence","group":"nobody"})).await,
        json!({"type":"presence","group":"nobody","members":[]})
    );

    // a goes away without a close frame; the server forgets its name and groups.
    b.call(json!({"type":"join","group":"g2","ref":4})).await;
    let a_id = a.id.clone();
    drop(a);
    let only_b = json!([{"id": b.id, "name": null}]);
    // The server notices the disconnect asynchronously: ask until it has (each question is a
    // round trip, bounded by LIMIT).
    within(async {
        while b.call(json!({"type":"presence","group":"g","ref":5})).await["members"] != only_b {}
    })
    .await;
    let gone = b
        .call(json!({"type":"send","to":"alice","data":1,"ref":6}))
        .await;
    assert_eq!(gone["code"], "not_found");
    let gone = b
        .call(json!({"type":"send","to":a_id,"data":1,"ref":7}))
        .await;
    assert_eq!(gone["code"], "not_found");
}

#[tokio::test]
async fn every_malformed_message_gets_an_error_and_the_connection_stays_open() {
    let server = Server::start(&[]);
    let mut c = Client::connect(&server).await;
    let cases: &[(&str, &str, Value)] = &[
        ("{not json", "bad_json", Value::Null),
        ("[1,2,3]", "bad_json", Value::Null),
        ("\"text\"", "bad_json", Value::Null),
        (r#"{"ref":1}"#, "missing_field", json!(1)),
        (r#"{"type":7,"ref":2}"#, "invalid_field", json!(2)),
        (r#"{"type":"fly","ref":3}"#, "unknown_type", json!(3)),
        (r#"{"type":"join","ref":4}"#, "missing_field", json!(4)),
        (
            r#"{"type":"join","group":"","ref":5}"#,
            "invalid_field",
            json!(5),
        ),
        (
            r#"{"type":"join","group":[],"ref":6}"#,
            "invalid_field",
            json!(6),
        ),
        (r#"{"type":"leave"}"#, "missing_field", Value::Null),
        (
            r#"{"type":"publish","group":"g"}"#,
            "missing_field",
            Value::Null,
        ),
        (
            r#"{"type":"publish","data":1}"#,
            "missing_field",
            Value::Null,
        ),
        (r#"{"type":"send","to":"x"}"#, "missing_field", Value::Null),
        (r#"{"type":"send","data":1}"#, "missing_field", Value::Null),
        (
            r#"{"type":"send","to":5,"data":1}"#,
            "invalid_field",
            Value::Null,
        ),
        (r#"{"type":"name"}"#, "missing_field", Value::Null),
        (
            r#"{"type":"name","name":false}"#,
            "invalid_field",
            Value::Null,
        ),
        (r#"{"type":"presence"}"#, "missing_field", Value::Null),
    ];
    for (text, code, reference) in cases {
        c.send_raw(text).await;
        let error = c.recv().await;
        assert_eq!(error["type"], "error", "{text}: {error}");
        assert_eq!(error["code"], *code, "{text}: {error}");
        assert_eq!(error["ref"], *reference, "{text}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    within(c.ws.send(Message::binary(vec![1u8, 2, 3])))
        .await
        .unwrap();
    assert_eq!(c.recv().await["code"], "unsupported");
    // Still open and answering.
    assert_eq!(
        c.call(json!({"type":"join","group":"g","ref":"ok"})).await,
        json!({"type":"ack","ref":"ok"})
    );
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let server = Server::start(&["--max-message-size", "1KiB"]);
    let mut c = Client::connect(&server).await;
    let big = format!(
        r#"{{"type":"publish","group":"g","data":"{}"}}"#,
        "x".repeat(2000)
    );
    c.send_raw(&big).await;
    assert_eq!(c.close_code().await, Some(1009));
    // A message under the limit is fine on a new connection.
    let mut d = Client::connect(&server).await;
    assert_eq!(
        d.call(json!({"type":"join","group":"g","ref":1})).await["type"],
        "ack"
    );
}

#[tokio::test]
async fn allowed_origins_are_enforced_on_the_upgrade() {
    let server = Server::start(&["--allowed-origins", "https://app.example,https://b.example"]);
    let refused = within(
        wskit::Client::new(server.url("/ws"))
            .origin("https://evil.example")
            .connect(),
    )
    .await
    .expect_err("refused");
    assert_eq!(refused.http_status(), Some(403));
    let (ws, _) = within(
        wskit::Client::new(server.url("/ws"))
            .origin("https://b.example")
            .connect(),
    )
    .await
    .expect("allowed");
    Client::welcome(ws).await;
}

#[tokio::test]
async fn echo_echoes_text_and_binary() {
    let server = Server::start(&[]);
    let (mut ws, _) = within(wskit::connect(&server.url("/echo"))).await.unwrap();
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(within(ws.recv_text()).await.unwrap().as_str(), "hello");
    ws.send(Message::binary(vec![0u8, 255])).await.unwrap();
    assert_eq!(&within(ws.recv_binary()).await.unwrap()[..], &[0u8, 255]);
}
