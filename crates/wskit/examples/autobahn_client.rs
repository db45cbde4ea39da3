//! The Autobahn TestSuite client harness: runs every case the fuzzing server offers.
//!
//! Run with: `cargo run --release -p wskit --example autobahn_client -- ws://127.0.0.1:9001`
//! against `kosoku -m fuzzingserver 127.0.0.1:9001` (or Autobahn's `wstest -m fuzzingserver`).

use wskit::connect;

const AGENT: &str = "wskit";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let base = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
    let base = base.trim_end_matches('/');

    let (mut ws, _) = connect(&format!("{base}/getCaseCount")).await?;
    let count: u32 = ws.recv_text().await?.parse()?;
    ws.close(wskit::CloseCode::NORMAL, "").await.ok();
    println!("{count} cases");

    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={AGENT}");
        if let Err(err) = run_case(&url).await {
            println!("case {case}: {err}");
        }
    }

    let (mut ws, _) = connect(&format!("{base}/updateReports?agent={AGENT}")).await?;
    ws.close(wskit::CloseCode::NORMAL, "").await.ok();
    println!("reports updated");
    Ok(())
}

async fn run_case(url: &str) -> Result<(), wskit::Error> {
    let (mut ws, _) = connect(url).await?;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_text() || msg.is_binary() {
            ws.send(msg).await?;
        }
    }
    Ok(())
}
