//! A credential that cannot be printed: Debug and Display redact it, and the
//! only way to read it is `expose()`, called where a request header is set.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for an HTTP header and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("sk-ant-marker-123");
        assert!(!format!("{s:?}").contains("marker"));
        assert!(!format!("{s}").contains("marker"));
        assert!(!format!("{:?}", Some(&s)).contains("marker"));
        assert_eq!(s.expose(), "sk-ant-marker-123");
    }
}
