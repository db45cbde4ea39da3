//! Client authentication of `wskit serve` against the built binary: connection tokens (JWT)
//! in the URL or as the first message, what their claims allow, expiry, and the start-up
//! refusal to serve anonymous clients beyond loopback.

mod support;

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use support::*;

const SECRET: &str = "test-token-secret";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An HS256 token signed with `secret`.
fn token_with(secret: &str, claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn token(claims: &Value) -> String {
    token_with(SECRET, claims)
}

/// Alice's claims: the public groups and her own, publishing to the public ones.
fn alice(exp: u64) -> Value {
    json!({
        "sub": "alice",
        "exp": exp,
        "name": "Alice",
        "join": ["public:*", "user:{sub}"],
        "publish": ["public:*"],
    })
}

fn server() -> Server {
    Server::start(&["--token-secret", SECRET])
}

/// The status of a refused upgrade to `url`.
async fn refused_status(url: &str) -> String {
    within(wskit::connect(url))
        .await
        .map(|_| ())
        .expect_err("the upgrade is refused")
        .to_string()
}

#[tokio::test]
async fn a_token_in_the_url_gives_the_user_name_and_groups() {
    let server = server();
    let url = format!("{}?token={}", server.url("/ws"), token(&alice(now() + 600)));
    let mut client = Client::connect_url(&url).await;
    let ok = |n: i32| json!({"type":"ack","ref":n});
    assert_eq!(
        client
            .call(json!({"type":"join","group":"public:lobby","ref":1}))
            .await,
        ok(1)
    );
    assert_eq!(
        client
            .call(json!({"type":"join","group":"user:alice","ref":2}))
            .await,
        ok(2)
    );
    for (n, group) in [(3, "user:bob"), (4, "private:x"), (5, "public")] {
        let refusal = client
            .call(json!({"type":"join","group":group,"ref":n}))
            .await;
        assert_eq!(refusal["code"], "forbidden", "{group}: {refusal}");
        assert_eq!(refusal["ref"], n);
    }
    let published = client
        .call(json!({"type":"publish","group":"public:lobby","data":1,"ref":6}))
        .await;
    assert_eq!(published["data"], 1, "{published}");
    assert_eq!(client.recv().await, ok(6));
    let own = client
        .call(json!({"type":"publish","group":"user:alice","data":1,"ref":7}))
        .await;
    assert_eq!(own["code"], "forbidden", "{own}");
    let send = client
        .call(json!({"type":"send","to":client.id.clone(),"data":1,"ref":8}))
        .await;
    assert_eq!(send["code"], "forbidden", "{send}");
    let name = client
        .call(json!({"type":"name","name":"Mallory","ref":9}))
        .await;
    assert_eq!(name["code"], "forbidden", "{name}");
    // The name came from the token; presence of a group outside the token is refused.
    let presence = client
        .call(json!({"type":"presence","group":"public:lobby","ref":10}))
        .await;
    assert_eq!(presence["members"][0]["name"], "Alice", "{presence}");
    let hidden = client
        .call(json!({"type":"presence","group":"user:bob","ref":11}))
        .await;
    assert_eq!(hidden["code"], "forbidden", "{hidden}");
}

#[tokio::test]
async fn the_token_may_come_as_the_first_message() {
    let server = server();
    let mut client = Client::connect(&server).await;
    let auth = client
        .call(json!({"type":"auth","token":token(&alice(now() + 600)),"ref":"a"}))
        .await;
    assert_eq!(auth, json!({"type":"ack","ref":"a"}));
    let join = client
        .call(json!({"type":"join","group":"public:x","ref":1}))
        .await;
    assert_eq!(join, json!({"type":"ack","ref":1}));
    // A fresh token for another user is refused; the connection stays Alice's.
    let mut bob = alice(now() + 600);
    bob["sub"] = json!("bob");
    let other = client
        .call(json!({"type":"auth","token":token(&bob),"ref":"b"}))
        .await;
    assert_eq!(other["code"], "unauthorized", "{other}");
    let join = client
        .call(json!({"type":"join","group":"user:alice","ref":2}))
        .await;
    assert_eq!(join, json!({"type":"ack","ref":2}));
}

#[tokio::test]
async fn without_a_valid_token_nothing_is_served() {
    let server = Server::start(&["--token-secret", SECRET, "--auth-timeout", "300ms"]);
    // A command before the token: refused, then closed with 4001.
    let mut early = Client::connect(&server).await;
    let refusal = early
        .call(json!({"type":"join","group":"public:x","ref":1}))
        .await;
    assert_eq!(refusal["code"], "unauthorized", "{refusal}");
    assert_eq!(early.close_code().await, Some(4001));
    // No token in time: 4001.
    let mut silent = Client::connect(&server).await;
    assert_eq!(silent.close_code().await, Some(4001));
    // A bad token as the first message: 4001.
    let mut forged = Client::connect(&server).await;
    let reply = forged
        .call(json!({"type":"auth","token":token_with("another secret", &alice(now() + 600))}))
        .await;
    assert_eq!(reply["code"], "unauthorized", "{reply}");
    assert_eq!(forged.close_code().await, Some(4001));
    // In the URL: refused before the upgrade.
    let forged = token_with("another secret", &alice(now() + 600));
    let url = format!("{}?token={forged}", server.url("/ws"));
    assert!(refused_status(&url).await.contains("401"));
    let expired = token(&alice(now() - 10));
    let url = format!("{}?token={expired}", server.url("/ws"));
    assert!(refused_status(&url).await.contains("401"));
    let url = format!("{}?token=not.a.jwt", server.url("/ws"));
    assert!(refused_status(&url).await.contains("401"));
    // /echo takes the token in the URL only.
    assert!(refused_status(&server.url("/echo")).await.contains("401"));
    let good = token(&alice(now() + 600));
    let url = format!("{}?token={good}", server.url("/echo"));
    within(wskit::connect(&url))
        .await
        .expect("echo with a token");
}

#[tokio::test]
async fn a_connection_is_closed_when_its_token_expires_unless_it_sends_a_fresh_one() {
    let server = server();
    let soon = now() + 2;
    // Expires first, but is refreshed.
    let url = format!("{}?token={}", server.url("/ws"), token(&alice(soon - 1)));
    let mut refreshed = Client::connect_url(&url).await;
    let fresh = refreshed
        .call(json!({"type":"auth","token":token(&alice(now() + 600)),"ref":1}))
        .await;
    assert_eq!(fresh, json!({"type":"ack","ref":1}));
    let url = format!("{}?token={}", server.url("/ws"), token(&alice(soon)));
    let mut expiring = Client::connect_url(&url).await;
    assert_eq!(
        expiring.close_frame().await,
        Some((4002, "token expired".to_owned()))
    );
    // The refreshed one outlived its first token's expiry.
    let join = refreshed
        .call(json!({"type":"join","group":"public:x","ref":2}))
        .await;
    assert_eq!(join, json!({"type":"ack","ref":2}));
}

#[tokio::test]
async fn es256_tokens_verify_with_a_pem_public_key() {
    let key = rcgen::KeyPair::generate().expect("generate a P-256 key");
    let dir = temp_dir("es256");
    let public = dir.join("public.pem");
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let server = Server::start(&["--token-public-key", public.to_str().unwrap()]);
    let signed = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &alice(now() + 600),
        &EncodingKey::from_ec_pem(key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let url = format!("{}?token={signed}", server.url("/ws"));
    let mut client = Client::connect_url(&url).await;
    let join = client
        .call(json!({"type":"join","group":"public:x","ref":1}))
        .await;
    assert_eq!(join, json!({"type":"ack","ref":1}));
    // An HS256 token is not accepted by this server (no secret).
    let url = format!("{}?token={}", server.url("/ws"), token(&alice(now() + 600)));
    assert!(refused_status(&url).await.contains("401"));
}

#[test]
fn anonymous_clients_beyond_loopback_need_the_operator_s_word() {
    let output = serve_command(&["--listen", "0.0.0.0:0", "--api-key", "k"])
        .output()
        .expect("run wskit serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("without client authentication")
            && stderr.contains("--token-secret")
            && stderr.contains("--allow-anonymous"),
        "{stderr}"
    );
    let mut command = serve_command(&["--listen", "0.0.0.0:0", "--api-key", "k"]);
    command.args(["--token-secret", SECRET]);
    let server = Server::spawn(command);
    assert!(server.line.contains("listening on http://0.0.0.0:"));
}
