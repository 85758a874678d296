//! The exporter binary as an operator runs it: started with flags, its
//! stderr collected line by line, its address read from the "serving
//! metrics" line, stopped with SIGTERM.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Exporter {
    pub child: Child,
    pub addr: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// The binary with one environment and an API nobody answers at; `args`
/// first (a subcommand, if any, then its flags).
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"));
    c.args(args)
        .args(["--web.listen-address", "127.0.0.1:0"])
        .args(["--api.base-url", "http://127.0.0.1:9"])
        .env("ANTHROPIC_ENVIRONMENT_ID", "env_x")
        .env("ANTHROPIC_ENVIRONMENT_KEY", "k")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

impl Exporter {
    /// Start `command` and wait until it serves.
    pub fn start(mut command: Command) -> Exporter {
        let mut child = command.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("serving metrics") {
                    let _ = tx.send(line.clone());
                }
                lines.lock().unwrap().push(line);
            }
        });
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("never served: {:?}", log.lock().unwrap()));
        let addr = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("address="))
            .unwrap()
            .trim_matches('"')
            .to_string();
        Exporter { child, addr, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, and how long it took to exit (panics after `within`).
    pub fn stop(mut self, within: Duration) -> Duration {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        wait_exit(&mut self.child, within)
    }
}

/// Wait for `child` to exit; panics (after killing it) past `within`.
pub fn wait_exit(child: &mut Child, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return start.elapsed();
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not stop within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
