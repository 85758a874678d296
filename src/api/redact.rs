//! Keeps keys out of what a server sends back: error bodies, request ids and
//! transport messages are scrubbed of the key and shortened before they reach
//! an error, a log line or a page.

use super::wire;
use crate::secret::Secret;

/// The error message from an API error body, scrubbed of the key and shortened.
pub(crate) fn error_message(body: &[u8], secret: &Secret) -> String {
    let text = match serde_json::from_slice::<wire::ErrorBody>(body) {
        Ok(b) => format!("{}: {}", b.error.kind, b.error.message),
        // Scrub before shortening: a cut through an echoed key would leave part of it.
        Err(_) => {
            let head = &body[..body.len().min(200 + secret.expose().len())];
            let text = scrub(&String::from_utf8_lossy(head), secret);
            return text.chars().take(200).collect();
        }
    };
    scrub(&text, secret)
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
    fn scrub_removes_the_key_from_server_text() {
        let s = Secret::new("sk-marker");
        assert_eq!(
            scrub("bad key sk-marker here", &s),
            "bad key <redacted> here"
        );
    }
}
