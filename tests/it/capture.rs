//! Captures the log lines a piece of code emits, in both production formats
//! (logfmt and JSON) at TRACE level, libraries included.
//!
//! Tracing caches each callsite's interest when it is first reached, and a
//! callsite another test thread reaches while the subscriber is being
//! installed can stay silent for good (with a thread-local `with_default`
//! subscriber, or a global one installed late). So a capturing test runs in
//! a process of its own (`in_own_process`), where it installs the one global
//! subscriber before anything logs. The subscriber writes only for threads
//! that are capturing, into their own buffer.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, Once};
use tracing_subscriber::layer::SubscriberExt;

thread_local! {
    static SINK: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

/// Writes to the capturing thread's buffer; elsewhere, nowhere.
struct ThreadSink;

impl std::io::Write for ThreadSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        SINK.with(|s| {
            if let Some(b) = &*s.borrow() {
                b.0.lock().unwrap().extend_from_slice(buf);
            }
        });
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let capturing =
            tracing_subscriber::filter::filter_fn(|_| SINK.with(|s| s.borrow().is_some()));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_logfmt::builder().layer().with_writer(|| ThreadSink))
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(|| ThreadSink),
            )
            .with(capturing);
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the tests");
    });
}

/// Run `f` on this thread and return what it logged. Everything `f` runs must
/// stay on this thread (a current-thread runtime).
pub fn logs_of<R>(f: impl FnOnce() -> R) -> (R, String) {
    install();
    let buffer = Buffer::default();
    SINK.with(|s| *s.borrow_mut() = Some(buffer.clone()));
    let r = f();
    SINK.with(|s| *s.borrow_mut() = None);
    let text = String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned();
    (r, text)
}

/// Set in the child process `in_own_process` starts.
const CHILD: &str = "WORK_EXPORTER_TEST_OWN_PROCESS";

/// True in the process `in_own_process` started; a test marked `#[ignore]`
/// returns at once without it.
pub fn is_own_process() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Run the (ignored) test `name` of this binary alone in a new process; fail when it fails.
pub fn in_own_process(name: &str) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            name,
            "--exact",
            "--include-ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{name} failed in its own process:\n{text}"
    );
    assert!(text.contains("1 passed"), "{name} did not run:\n{text}");
}
