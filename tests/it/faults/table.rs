//! The fault table: every upstream fault of issue 7 a single environment
//! can suffer, with the `reason` it must be reported under (or `None` when
//! the refresh must succeed anyway).

use crate::pair::{At, Fault, T0};
use crate::upstream::{page, work, Reply};
use std::time::Duration;

const HALF: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 4000\r\n\r\n{\"data\":[{\"id\":\"w1\",\"type\":\"work\",\"state\":\"queued\",";

pub fn error(status: u16, kind: &str) -> Reply {
    Reply::error(status, kind, "injected fault")
}

/// Every fault of issue 7 that a single environment can suffer.
pub fn table() -> Vec<Fault> {
    use At::{SecondPage, Stats};
    vec![
        Fault::always(
            "401 after the key was revoked",
            SecondPage,
            Some("auth"),
            error(401, "authentication_error"),
        ),
        Fault::always(
            "403 after the key lost its permission",
            Stats,
            Some("auth"),
            error(403, "permission_error"),
        ),
        Fault::always(
            "404",
            SecondPage,
            Some("not_found"),
            error(404, "not_found_error"),
        ),
        Fault::always(
            "400",
            Stats,
            Some("client_error"),
            error(400, "invalid_request_error"),
        ),
        Fault::always(
            "429 without retry advice",
            SecondPage,
            Some("rate_limited"),
            error(429, "rate_limit_error"),
        ),
        Fault::always(
            "429 spend limit (error_code)",
            SecondPage,
            Some("spend_limit"),
            Reply::error_code(
                429,
                "rate_limit_error",
                "enforced_spend_limit_reached",
                "injected fault",
            ),
        ),
        Fault::always(
            "400 organization on hold (error_code)",
            Stats,
            Some("organization_on_hold"),
            Reply::error_code(
                400,
                "invalid_request_error",
                "organization_on_hold",
                "injected fault",
            ),
        ),
        Fault::always(
            "429 with retry-after-ms",
            SecondPage,
            Some("rate_limited"),
            error(429, "rate_limit_error").with_header("retry-after-ms", "300"),
        ),
        Fault::always(
            "429 with retry-after in seconds",
            Stats,
            Some("rate_limited"),
            error(429, "rate_limit_error").with_header("retry-after", "1"),
        )
        .timeout(Duration::from_secs(6)),
        Fault::always(
            "529",
            SecondPage,
            Some("overloaded"),
            error(529, "overloaded_error"),
        ),
        Fault::always("500", Stats, Some("server_error"), error(500, "api_error")),
        Fault::always(
            "502 from a proxy, HTML body",
            SecondPage,
            Some("server_error"),
            Reply::Status {
                status: 502,
                headers: vec![("content-type".into(), "text/html".into())],
                body: b"<html><body>Bad Gateway</body></html>".to_vec(),
            },
        ),
        Fault::always(
            "503",
            SecondPage,
            Some("server_error"),
            error(503, "api_error"),
        ),
        Fault::always(
            "504",
            Stats,
            Some("server_error"),
            error(504, "timeout_error"),
        ),
        Fault::always(
            "reset before any answer",
            Stats,
            Some("connect"),
            Reply::Reset(Vec::new()),
        ),
        Fault::always(
            "reset mid-body",
            SecondPage,
            Some("connect"),
            Reply::Reset(HALF.to_vec()),
        ),
        Fault::always(
            "closed mid-body",
            SecondPage,
            Some("connect"),
            Reply::Raw(HALF.to_vec()),
        ),
        Fault::always(
            "accepts and never answers",
            Stats,
            Some("timeout"),
            Reply::Hang,
        )
        .timeout(Duration::from_secs(2)),
        Fault::always(
            "body stalls halfway",
            SecondPage,
            Some("timeout"),
            Reply::Stall(HALF.to_vec()),
        )
        .timeout(Duration::from_secs(2)),
        Fault::always(
            "truncated JSON",
            SecondPage,
            Some("decode"),
            Reply::json(200, r#"{"data":[{"id":"w1","sta"#),
        ),
        Fault::always(
            "wrong types",
            SecondPage,
            Some("decode"),
            Reply::json(
                200,
                r#"{"data":[{"id":7,"state":"queued"}],"next_page":null}"#,
            ),
        ),
        Fault::always(
            "stats of the wrong type",
            Stats,
            Some("decode"),
            Reply::json(
                200,
                r#"{"type":"work_queue_stats","depth":"3","pending":1}"#,
            ),
        ),
        Fault::always(
            "depth: null",
            Stats,
            Some("decode"),
            Reply::json(
                200,
                r#"{"type":"work_queue_stats","depth":null,"pending":0,"oldest_queued_at":null,"workers_polling":null}"#,
            ),
        ),
        Fault::always(
            "data: null",
            SecondPage,
            Some("decode"),
            Reply::json(200, r#"{"data":null,"next_page":null}"#),
        ),
        Fault::always(
            "id: null",
            SecondPage,
            Some("decode"),
            Reply::json(
                200,
                r#"{"data":[{"id":null,"state":"queued"}],"next_page":null}"#,
            ),
        ),
        Fault::always(
            "not JSON at all",
            Stats,
            Some("decode"),
            Reply::json(200, "<html>maintenance</html>"),
        ),
        Fault::always(
            "body larger than the cap",
            SecondPage,
            Some("too_large"),
            Reply::json(200, page(&vec![work("w9", "queued", T0, None); 400], None)),
        ),
        Fault::always(
            "next_page cursor loops",
            SecondPage,
            Some("pagination"),
            Reply::json(200, page(&[work("w3", "stopping", T0, None)], Some("c1"))),
        ),
        Fault::always(
            "empty pages repeating a cursor",
            SecondPage,
            Some("pagination"),
            Reply::json(200, page(&[], Some("c2"))),
        ),
        Fault::always(
            "redirect to another host",
            Stats,
            Some("server_error"),
            Reply::json(302, "").with_header("location", "http://127.0.0.1:9/elsewhere"),
        ),
        // Accepted: the refresh must succeed.
        Fault::new("503 once, then fine", SecondPage, None, |_, n| {
            if n == 0 {
                error(503, "api_error")
            } else {
                Reply::json(200, page(&[work("w3", "stopping", T0, None)], None))
            }
        }),
        Fault::new("408 once, then fine", SecondPage, None, |_, n| {
            if n == 0 {
                error(408, "timeout_error")
            } else {
                Reply::json(200, page(&[work("w3", "stopping", T0, None)], None))
            }
        }),
        Fault::new("409 once, then fine", SecondPage, None, |_, n| {
            if n == 0 {
                error(409, "conflict_error")
            } else {
                Reply::json(200, page(&[work("w3", "stopping", T0, None)], None))
            }
        }),
        Fault::always(
            "the last page ends with an empty cursor",
            SecondPage,
            None,
            Reply::json(200, page(&[work("w3", "stopping", T0, None)], Some(""))),
        ),
        Fault::new(
            "an empty page with a new cursor, then the rest",
            SecondPage,
            None,
            |seen, _| match seen.param("page").as_deref() {
                Some("c1") => Reply::json(200, page(&[], Some("c2"))),
                _ => Reply::json(200, page(&[work("w3", "stopping", T0, None)], Some(""))),
            },
        ),
        Fault::new("x-should-retry: true on a 400", Stats, None, |_, n| {
            if n == 0 {
                error(400, "invalid_request_error").with_header("x-should-retry", "true")
            } else {
                Reply::json(200, crate::pair::healthy_stats(3))
            }
        }),
        Fault::always(
            "unknown extra fields",
            SecondPage,
            None,
            Reply::json(
                200,
                r#"{"data":[{"id":"w3","type":"work","state":"stopping","created_at":"2025-12-31T23:58:00Z","brand_new":{"deep":[1,{"x":null}]},"data":{"id":"s","type":"session","extra":1}}],"next_page":null,"has_more":false,"first_id":"w3"}"#,
            ),
        ),
        Fault::always(
            "unknown states",
            SecondPage,
            None,
            Reply::json(
                200,
                r#"{"data":[{"id":"w3","type":"work","state":"hibernating","created_at":"2025-12-31T23:58:00Z"}],"next_page":null}"#,
            ),
        ),
        Fault::always(
            "timestamps in the future (clock skew)",
            SecondPage,
            None,
            Reply::json(
                200,
                page(
                    &[work(
                        "w3",
                        "active",
                        "2026-01-01T01:00:00Z",
                        Some("2026-01-01T00:30:00Z"),
                    )],
                    None,
                ),
            ),
        ),
    ]
}
