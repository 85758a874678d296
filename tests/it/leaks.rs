//! Credentials never leak (issue 7): the whole fault suite is replayed with
//! marker keys against an upstream that echoes the credential it received in
//! every place it can (error messages, `request-id`, fields of the wrong
//! type), and every output is searched for the markers: `/metrics`, the
//! landing and drill-down pages, the health pages, the recorded errors, and
//! every log line at TRACE level in both log formats. Also: keys are never
//! sent on a redirect, and the binary warns when the base URL is plain http
//! to a host other than loopback.

use crate::faults::table;
use crate::pair::{At, Fault, Options, Pair, BAD, GOOD};
use crate::upstream::{Reply, Seen, Upstream};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::time::Duration;

const ENV_KEY: &str = "ek-7Hq2ZtLm9Xw4Rv8Pn3Jc6Ys1Bd5Gf0K";
const API_KEY: &str = "ak-3Vn8Qp1Lx6Zr9Tm2Wc7Hs4Jd0Fb5Gy8E";
/// Markers in every work item the upstream serves (`secret`, `metadata`).
const ITEM_MARKERS: [&str; 2] = ["item-secret-marker", "metadata-marker"];

/// Fails when `text` holds either key, or any ten characters of one.
fn assert_no_key(text: &str, what: &str) {
    for key in [ENV_KEY, API_KEY] {
        for part in key.as_bytes().windows(10) {
            let part = std::str::from_utf8(part).unwrap();
            assert!(
                !text.contains(part),
                "{what} holds part of a key ({part}):\n{text}"
            );
        }
    }
    for marker in ITEM_MARKERS {
        assert!(
            !text.contains(marker),
            "{what} holds a work item's {marker}:\n{text}"
        );
    }
}

/// The credential of a request, as sent.
fn credential(seen: &Seen) -> String {
    seen.header("authorization")
        .or_else(|| seen.header("x-api-key"))
        .unwrap_or("")
        .to_string()
}

/// The upstream at its worst: whatever it answers carries the key it was sent.
fn echoing(f: Fault) -> Fault {
    let inner = f.reply.clone();
    Fault {
        reply: Arc::new(move |seen, n| {
            let cred = credential(seen);
            match inner(seen, n) {
                Reply::Status {
                    status,
                    headers,
                    body,
                } => {
                    let mut headers: Vec<(String, String)> = headers
                        .into_iter()
                        .map(|(k, v)| {
                            if k == "request-id" {
                                (k, format!("req_{cred}"))
                            } else {
                                (k, v)
                            }
                        })
                        .collect();
                    headers.push(("x-echo".into(), cred.clone()));
                    let body = String::from_utf8_lossy(&body)
                        .replace(
                            "injected fault",
                            &format!("injected fault; you sent {cred}"),
                        )
                        .into_bytes();
                    Reply::Status {
                        status,
                        headers,
                        body,
                    }
                }
                other => other,
            }
        }),
        ..f
    }
}

/// Faults made only to carry the key back in the places a decoder quotes.
fn quoting() -> Vec<Fault> {
    vec![
        Fault::new("key as the depth", At::Stats, Some("decode"), |seen, _| {
            Reply::json(
                200,
                format!(
                    r#"{{"type":"work_queue_stats","depth":"{}","pending":0}}"#,
                    credential(seen)
                ),
            )
        }),
        Fault::new(
            "key as the data",
            At::SecondPage,
            Some("decode"),
            |seen, _| {
                Reply::json(
                    200,
                    format!(r#"{{"data":"{}","next_page":null}}"#, credential(seen)),
                )
            },
        ),
        Fault::new(
            "key as an item's state",
            At::SecondPage,
            Some("decode"),
            |seen, _| {
                Reply::json(
                    200,
                    format!(
                        r#"{{"data":[{{"id":"w1","state":{{"{}":1}}}}],"next_page":null}}"#,
                        credential(seen)
                    ),
                )
            },
        ),
        Fault::new(
            "key in a plain-text error, past the quoted length",
            At::Stats,
            Some("server_error"),
            |seen, _| Reply::Status {
                status: 500,
                headers: vec![],
                body: format!("{}{}", "x".repeat(190), credential(seen)).into_bytes(),
            },
        ),
        Fault::new(
            "key in a request-id of 200 bytes",
            At::SecondPage,
            Some("not_found"),
            |seen, _| {
                Reply::error(404, "not_found_error", "x").with_header(
                    "request-id",
                    &format!("{}{}", "r".repeat(120), credential(seen)),
                )
            },
        ),
    ]
}

async fn get(url: &str, accept: &str) -> String {
    reqwest::Client::new()
        .get(url)
        .header("accept", accept)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Run one fault through its life with marker keys; every output it produced.
async fn outputs_of(f: Fault) -> Vec<(String, String)> {
    let pair = Pair::start(Options {
        env_key: ENV_KEY.into(),
        api_key: API_KEY.into(),
        ..Options::default()
    })
    .await;
    let timeout = f.timeout;
    let name = f.name;
    let _ = pair.refresh_both(timeout).await;
    pair.set_fault(Some(f));
    let (bad, _) = pair.refresh_both(timeout).await;
    let mut out = Vec::new();
    for path in [
        "/metrics",
        "/",
        "/-/ready",
        "/-/healthy",
        "/nope",
        &format!("/environments/{BAD}"),
        &format!("/environments/{GOOD}"),
    ] {
        for accept in ["text/html", "application/json"] {
            out.push((
                format!("{name}: GET {path} ({accept})"),
                get(&format!("{}{path}", pair.url), accept).await,
            ));
        }
    }
    {
        let store = pair.store.read();
        let st = &store[BAD];
        out.push((
            format!("{name}: recorded errors"),
            format!("{:?}", st.recent_errors),
        ));
        out.push((
            format!("{name}: environment state (Debug)"),
            format!("{st:?}"),
        ));
        if !bad {
            assert!(
                !st.recent_errors.is_empty(),
                "{name}: an error was recorded"
            );
        }
    }
    pair.set_fault(None);
    let _ = pair.refresh_both(timeout).await;
    out.push((
        format!("{name}: /metrics after recovery"),
        pair.scrape().await,
    ));
    out
}

#[test]
fn marker_keys_appear_in_no_output_over_the_whole_fault_suite() {
    crate::capture::in_own_process("leaks::marker_suite_in_a_process_of_its_own");
}

#[test]
#[ignore = "run alone by marker_keys_appear_in_no_output_over_the_whole_fault_suite"]
fn marker_suite_in_a_process_of_its_own() {
    if !crate::capture::is_own_process() {
        return;
    }
    // One thread, so the thread-local subscriber sees every event of every task.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let faults: Vec<Fault> = table().into_iter().map(echoing).chain(quoting()).collect();
    let n = faults.len();
    let (outputs, logs) = crate::capture::logs_of(|| {
        rt.block_on(futures_util::future::join_all(
            faults.into_iter().map(outputs_of),
        ))
    });
    for (what, text) in outputs.iter().flatten() {
        assert_no_key(text, what);
    }
    let failing = table()
        .iter()
        .chain(quoting().iter())
        .filter(|f| f.reason.is_some())
        .count();
    let logged = logs.matches("refresh failed").count();
    assert!(
        logged >= 2 * failing,
        "every failure logged in both formats: {logged} lines for {failing} failing of {n} faults"
    );
    assert!(
        logs.contains("<redacted>"),
        "the echoed keys were seen and redacted"
    );
    for line in logs.lines() {
        assert_no_key(line, "a log line");
    }
}

#[tokio::test]
async fn keys_are_never_sent_on_a_redirect_to_another_host() {
    let elsewhere = Upstream::start(|_, _| Reply::json(200, crate::pair::healthy_stats(1))).await;
    for status in [301, 302, 303, 307, 308] {
        let pair = Pair::start(Options {
            env_key: ENV_KEY.into(),
            api_key: API_KEY.into(),
            ..Options::default()
        })
        .await;
        let target = format!("{}/v1/environments/{BAD}/work/stats", elsewhere.base_url);
        pair.set_fault(Some(Fault::always(
            "redirect",
            At::Stats,
            Some("server_error"),
            Reply::json(status, "").with_header("location", &target),
        )));
        let r = pair.refresher(Duration::from_secs(3));
        assert!(!r.refresh_once(&pair.bad).await.ok);
        assert!(
            elsewhere.seen().is_empty(),
            "{status}: the redirect was followed"
        );
        let asked = pair
            .up
            .seen()
            .into_iter()
            .filter(|s| s.path.contains(BAD))
            .count();
        assert_eq!(
            asked, 1,
            "{status}: a redirect is configuration, not retried"
        );
        let store = pair.store.read();
        let err = &store[BAD].recent_errors[0];
        assert_eq!(err.reason, "server_error");
        assert!(err.message.contains("redirect refused"), "{}", err.message);
    }
}

/// Start the binary against `base_url`, read stderr until it serves, stop it; its stderr.
fn start_up_log(base_url: &str) -> String {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.base-url",
            base_url,
        ])
        .env("ANTHROPIC_ENVIRONMENT_ID", "env_mock")
        .env("ANTHROPIC_ENVIRONMENT_KEY", ENV_KEY)
        .env_remove("ANTHROPIC_API_KEY")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    let mut line = String::new();
    while stderr.read_line(&mut line).unwrap() > 0 {
        log.push_str(&line);
        if line.contains("serving metrics") {
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(log.contains("serving metrics"), "{log}");
    log
}

#[test]
fn plain_http_to_a_remote_host_is_warned_about_at_start() {
    let warning = "neither https nor loopback";
    let remote = start_up_log("http://192.0.2.10:8080");
    assert!(
        remote.contains(warning) && remote.contains("level=warn"),
        "{remote}"
    );
    assert_no_key(&remote, "start-up log");
    for quiet in [
        "http://127.0.0.1:9",
        "http://localhost:9",
        "http://[::1]:9",
        "https://192.0.2.10:9",
    ] {
        let log = start_up_log(quiet);
        assert!(!log.contains(warning), "{quiet}: {log}");
    }
}

#[test]
fn the_binary_logs_no_key_at_trace_level_against_an_echoing_upstream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(Upstream::start(|seen, n| {
        let cred = credential(seen);
        match n % 3 {
            0 => Reply::error(401, "authentication_error", &format!("invalid {cred}"))
                .with_header("request-id", &cred),
            1 => Reply::json(
                200,
                format!(r#"{{"type":"work_queue_stats","depth":"{cred}","pending":0}}"#),
            ),
            _ => Reply::Status {
                status: 503,
                headers: vec![],
                body: cred.into_bytes(),
            },
        }
    }));
    for format in ["logfmt", "json"] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
            .args([
                "--web.listen-address",
                "127.0.0.1:0",
                "--api.base-url",
                &up.base_url,
                "--refresh.interval",
                "1s",
                "--log.level",
                "trace",
                "--log.format",
                format,
            ])
            .env("ANTHROPIC_ENVIRONMENT_ID", "env_mock")
            .env("ANTHROPIC_ENVIRONMENT_KEY", ENV_KEY)
            .env("ANTHROPIC_API_KEY", API_KEY)
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut log = String::new();
        let mut line = String::new();
        let start = std::time::Instant::now();
        while log.matches("refresh failed").count() < 3 && start.elapsed() < Duration::from_secs(20)
        {
            line.clear();
            if stderr.read_line(&mut line).unwrap() == 0 {
                break;
            }
            log.push_str(&line);
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        log.push_str(&rest);
        assert!(
            log.matches("refresh failed").count() >= 3,
            "{format}: {log}"
        );
        assert_no_key(&log, &format!("stderr ({format})"));
    }
}

fn with_request_id(r: Reply, id: &str) -> Reply {
    match r {
        Reply::Status {
            status,
            headers,
            body,
        } => Reply::Status {
            status,
            headers: headers
                .into_iter()
                .filter(|(k, _)| k != "request-id")
                .chain([("request-id".to_string(), id.to_string())])
                .collect(),
            body,
        },
        other => other,
    }
}

#[test]
fn check_config_probe_prints_no_key_from_an_echoing_upstream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let up = rt.block_on(Upstream::start(|seen, _| {
        let cred = credential(seen);
        let reply = if seen.path.ends_with("/stats") {
            Reply::error(401, "authentication_error", &format!("invalid {cred}"))
        } else {
            // The probe decodes this page itself; serde quotes the value.
            Reply::json(200, format!(r#"{{"data":"{cred}","next_page":null}}"#))
        };
        with_request_id(reply, &cred)
    }));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_anthropic-work-exporter"))
        .args(["check-config", "--probe", "--api.base-url", &up.base_url])
        .env("ANTHROPIC_ENVIRONMENT_ID", "env_mock")
        .env("ANTHROPIC_ENVIRONMENT_KEY", ENV_KEY)
        .env("ANTHROPIC_API_KEY", API_KEY)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("decode") && text.contains("auth"), "{text}");
    assert_no_key(&text, "check-config --probe");
}
