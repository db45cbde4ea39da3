//! A real `redis-server` for the multi-node tests, on a free loopback port, with no
//! persistence, killed on drop. `scripts/test.sh` installs the Debian package `redis-server`.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `redis-server` may take to answer its first `PING`.
const START_LIMIT: Duration = Duration::from_secs(20);

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    /// The address it listens on (127.0.0.1).
    pub addr: SocketAddr,
}

impl RedisServer {
    /// Starts `redis-server` on a free loopback port and waits until it answers `PING`.
    ///
    /// # Panics
    /// When `redis-server` is not installed or does not start.
    pub fn start() -> Self {
        // Another process may take the port between the probe and the start: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Self {
                child: None,
                addr: SocketAddr::from(([127, 0, 0, 1], port)),
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Kills the server (like a crash: no shutdown, nothing saved) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty, and waits until it answers `PING`.
    ///
    /// # Panics
    /// When it does not come back.
    pub fn restart(&mut self) {
        self.kill();
        // The port was ours a moment ago; redis-server binds with SO_REUSEADDR. A slow
        // release of the port is retried.
        let deadline = Instant::now() + START_LIMIT;
        while !self.spawn() {
            assert!(Instant::now() < deadline, "redis-server did not restart");
        }
    }

    /// Starts the child on `self.addr`; false if it exited before answering.
    fn spawn(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args(["--port", &self.addr.port().to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match child {
            Ok(child) => child,
            Err(err) => panic!(
                "cannot run redis-server ({err}): install it with scripts/test.sh, or \
                 `apt-get install redis-server`"
            ),
        };
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if ping(self.addr) {
                self.child = Some(child);
                return true;
            }
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server on {} did not answer PING within {START_LIMIT:?}",
                self.addr
            );
            // Redis has no readiness event to wait on: poll, with the deadline above.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether a Redis answers `PING` on `addr`.
pub fn ping(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind a loopback port")
}

/// A Redis Cluster of `redis-server` processes (one shard each, no replicas) on free loopback
/// ports, created with `redis-cli --cluster create`, killed on drop.
#[derive(Debug)]
pub struct RedisCluster {
    children: Vec<Child>,
    /// The ports of the shards (each also uses its port + 10000 for the cluster bus).
    pub ports: Vec<u16>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts `shards` servers in cluster mode, joins them into one cluster covering every
    /// slot and waits until each reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing or the cluster does not form.
    pub fn start(shards: usize) -> Self {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wskit-redis-cluster-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let mut cluster = Self {
            children: Vec::new(),
            ports: Vec::new(),
            dir,
        };
        while cluster.ports.len() < shards {
            let port = cluster_port();
            // Another process may take the port meanwhile: then try another.
            if let Some(child) = cluster.spawn_shard(port) {
                cluster.children.push(child);
                cluster.ports.push(port);
            }
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let status = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run redis-cli (installed with redis-server)");
        assert!(status.success(), "redis-cli --cluster create failed");
        cluster.wait_ok();
        cluster
    }

    /// Kills shard `index` (like a crash).
    pub fn kill(&mut self, index: usize) {
        let _ = self.children[index].kill();
        let _ = self.children[index].wait();
    }

    /// Starts shard `index` again (same port, same cluster configuration file) and waits
    /// until the whole cluster reports `cluster_state:ok`.
    ///
    /// # Panics
    /// When it does not come back.
    pub fn restart(&mut self, index: usize) {
        self.kill(index);
        let port = self.ports[index];
        let deadline = Instant::now() + START_LIMIT;
        let child = loop {
            if let Some(child) = self.spawn_shard(port) {
                break child;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server {port} did not restart"
            );
        };
        self.children[index] = child;
        self.wait_ok();
    }

    /// Starts a cluster-mode server on `port`; `None` if it exits before answering.
    fn spawn_shard(&self, port: u16) -> Option<Child> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run redis-server (install it with scripts/test.sh)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if ping(addr) {
                return Some(child);
            }
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            assert!(
                Instant::now() < deadline,
                "redis-server {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every shard reports `cluster_state:ok`.
    fn wait_ok(&self) {
        let deadline = Instant::now() + START_LIMIT;
        for port in &self.ports {
            // The nodes agree on the slots through their bus: no event to wait on, so poll.
            while !cluster_ok(*port) {
                assert!(Instant::now() < deadline, "the Redis Cluster is not ok");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// `redis://127.0.0.1:PORT` of the first shard (clients discover the others).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[0])
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether the node on `port` reports `cluster_state:ok`.
fn cluster_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
}

/// A free port whose cluster bus port (+10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55_535 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}
