//! The text writer: escaping, streaming in pieces, cumulative buckets.
use super::*;

#[test]
fn labels_are_escaped_and_values_formatted() {
    let mut e = Exposition::default();
    e.header("x", Kind::Gauge, "help");
    e.sample("x", &[("a", "q\"\\\n")], &[], 1.5);
    e.sample("x", &[], &[], 3.0);
    assert_eq!(
        e.out,
        "# HELP x help\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} 1.5\nx 3\n"
    );
}

#[test]
fn a_streaming_exposition_writes_the_same_text_in_pieces() {
    let write = |e: &mut Exposition<'_>| {
        e.header("x", Kind::Gauge, "help");
        for i in 0..20_000 {
            e.sample("x", &[("i", &i.to_string())], &[], f64::from(i));
        }
    };
    let mut whole = Exposition::default();
    write(&mut whole);
    let mut sink = Vec::new();
    let mut streamed = Exposition::streaming(&mut sink);
    write(&mut streamed);
    assert!(streamed.out.len() < PIECE + 100);
    streamed.finish().unwrap();
    assert_eq!(String::from_utf8(sink).unwrap(), whole.out);
}

#[test]
fn histogram_buckets_are_cumulative_and_end_in_inf() {
    let mut e = Exposition::default();
    e.histogram("h", &[("e", "1")], &[1.0, 2.5], &[1, 2, 3], 9.0, 6);
    assert!(e.out.contains("h_bucket{e=\"1\",le=\"1\"} 1\n"));
    assert!(e.out.contains("h_bucket{e=\"1\",le=\"2.5\"} 3\n"));
    assert!(e.out.contains("h_bucket{e=\"1\",le=\"+Inf\"} 6\n"));
    assert!(e.out.contains("h_count{e=\"1\"} 6\n"));
}
