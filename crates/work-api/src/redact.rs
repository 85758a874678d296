//! Keeps keys out of what a server sends back: error bodies, request ids and
//! transport messages are scrubbed of the key and shortened before they reach
//! an error, a log line or a page.

use super::wire;
use crate::secret::Secret;

/// The message of an API error body, scrubbed of the key and shortened, and
/// its `error.details.error_code` when it has one (the SDK's `error_code`).
pub(crate) fn error_message(body: &[u8], secret: &Secret) -> (String, Option<String>) {
    let (text, code) = match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(b) => {
            let code = b
                .error
                .details
                .as_ref()
                .and_then(|d| d.get("error_code"))
                .and_then(|c| c.as_str())
                .map(|c| scrub(c, secret));
            let text = match &code {
                Some(code) => format!("{} ({code}): {}", b.error.kind, b.error.message),
                None => format!("{}: {}", b.error.kind, b.error.message),
            };
            (text, code)
        }
        // Scrub before shortening: a cut through an echoed key would leave part of it.
        Err(_) => {
            let head = &body[..body.len().min(200 + secret.expose().len())];
            let text = scrub(&String::from_utf8_lossy(head), secret);
            return (text.chars().take(200).collect(), None);
        }
    };
    (scrub(&text, secret), code)
}

/// Remove the key from text a server sent back, and keep it short.
pub(crate) fn scrub(text: &str, secret: &Secret) -> String {
    let cleaned = if secret.is_empty() {
        text.to_string()
    } else {
        text.replace(secret.expose(), "<redacted>")
    };
    let cleaned: String = cleaned.chars().filter(|c| !c.is_control()).collect();
    if cleaned.chars().count() > 300 {
        let mut s: String = cleaned.chars().take(300).collect();
        s.push('…');
        s
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_code_is_read_from_the_details() {
        let body = br#"{"type":"error","error":{"type":"rate_limit_error","message":"limit","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_1"}"#;
        let (text, code) = error_message(body, &Secret::new("k"));
        assert_eq!(code.as_deref(), Some("enforced_spend_limit_reached"));
        assert_eq!(
            text,
            "rate_limit_error (enforced_spend_limit_reached): limit"
        );
        let bare = br#"{"type":"error","error":{"type":"api_error","message":"boom"}}"#;
        assert_eq!(
            error_message(bare, &Secret::new("k")),
            ("api_error: boom".into(), None)
        );
    }

    #[test]
    fn scrub_removes_the_key_from_server_text() {
        let s = Secret::new("sk-marker");
        assert_eq!(
            scrub("bad key sk-marker here", &s),
            "bad key <redacted> here"
        );
    }
}
