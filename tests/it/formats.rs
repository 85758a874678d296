//! The three exposition formats rendered from one store: OpenMetrics checked
//! by the `prometheus_client` package's parser, text by promtool, protobuf
//! decoded field by field here (and ingested by a real Prometheus in
//! `tests/e2e/native_histograms.sh`); `--metrics.histograms` and the family
//! filter applied to every format alike.

use super::exposition::{context, promtool_check, store};
use std::time::Duration;
use work_exporter::cli::HistogramMode;
use work_exporter::config::FamilyFilter;
use work_exporter::config::RenderOptions;
use work_exporter::metrics::{ExporterMetrics, Format, RenderContext, Settings};
use work_exporter::snapshot::native::{SCHEMA, ZERO_THRESHOLD};

fn render(format: Format, options: RenderOptions) -> Vec<u8> {
    let m = ExporterMetrics::new(&Settings {
        budget_rps: 5.0,
        cadences: work_exporter::config::Cadences::every(Duration::from_secs(30)),
        lease_ttl: Duration::from_secs(90),
        discovery: true,
    })
    .unwrap()
    .with_options(options);
    use work_api::RequestObserver;
    m.request_done("stats", "200", 0.01);
    let ctx = RenderContext {
        format,
        options: m.options().clone(),
        ..context("http://x")
    };
    m.render(&store(), &ctx)
}

fn text(format: Format, options: RenderOptions) -> String {
    String::from_utf8(render(format, options)).unwrap()
}

fn mode(histograms: HistogramMode) -> RenderOptions {
    RenderOptions {
        histograms,
        ..RenderOptions::default()
    }
}

fn filter(allow: &[&str], deny: &[&str]) -> RenderOptions {
    let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    RenderOptions {
        families: FamilyFilter::new(&owned(allow), &owned(deny)).unwrap(),
        ..RenderOptions::default()
    }
}

/// `--metrics.openmetrics.created-samples` on top of `options`.
fn with_created(options: RenderOptions) -> RenderOptions {
    RenderOptions {
        created_samples: true,
        ..options
    }
}

/// The project's virtualenv (scripts/test makes it), or `WORK_EXPORTER_PYTHON`.
fn python() -> String {
    std::env::var("WORK_EXPORTER_PYTHON")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").into())
}

#[test]
fn the_openmetrics_parser_accepts_the_openmetrics_body() {
    let body = text(Format::OpenMetrics, RenderOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.om");
    std::fs::write(&path, &body).unwrap();
    let script = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse\n\
        print(len(list(parse(open(sys.argv[1]).read()))))";
    let out = std::process::Command::new(python())
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("the venv's python (scripts/test installs tests/requirements.txt)");
    assert!(
        out.status.success(),
        "prometheus_client rejects the OpenMetrics body:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert_eq!(families, body.matches("# TYPE ").count());
}

#[test]
fn openmetrics_names_counter_families_without_total_and_adds_created_and_units() {
    let body = text(Format::OpenMetrics, with_created(RenderOptions::default()));
    assert!(body.ends_with("# EOF\n") && body.matches("# EOF").count() == 1);
    assert!(body.contains("# TYPE anthropic_work_items_created counter\n"));
    assert!(!body.contains("# TYPE anthropic_work_items_created_total"));
    assert!(body.contains(
        "\nanthropic_work_items_created_total{environment_id=\"env_a\",team=\"core\"} 5\n"
    ));
    assert!(body.contains(
        "\nanthropic_work_items_created_created{environment_id=\"env_a\",team=\"core\"} "
    ));
    assert!(body.contains(
        "\nanthropic_work_queue_wait_seconds_created{environment_id=\"env_a\",team=\"core\"} "
    ));
    assert!(body.contains("\nanthropic_work_exporter_api_requests_created{"));
    assert!(body.contains("# UNIT anthropic_work_queue_wait_seconds seconds\n"));
    assert!(!body.contains("# UNIT anthropic_work_up "));
}

#[test]
fn openmetrics_has_no_created_samples_unless_asked() {
    // Prometheus 2.x would store each as a series of its own.
    let body = text(Format::OpenMetrics, RenderOptions::default());
    assert!(body.contains("# TYPE anthropic_work_items_created counter\n"));
    assert!(
        !body
            .lines()
            .any(|l| !l.starts_with('#') && (l.contains("_created{") || l.contains("_created "))),
        "{body}"
    );
}

#[test]
fn created_samples_can_be_denied_alone() {
    let body = text(
        Format::OpenMetrics,
        with_created(filter(&[], &["*_created"])),
    );
    let samples = || body.lines().filter(|l| !l.starts_with('#'));
    assert!(
        !samples().any(|l| l.contains("_created{") || l.contains("_created ")),
        "{body}"
    );
    assert!(samples().count() > 100);
    assert!(body.contains(
        "\nanthropic_work_items_created_total{environment_id=\"env_a\",team=\"core\"} 5\n"
    ));
    assert!(body.contains("# TYPE anthropic_work_queue_wait_seconds histogram\n"));
}

#[test]
fn the_text_formats_carry_classic_buckets_by_default_and_only_inf_in_native_mode() {
    for format in [Format::Text, Format::OpenMetrics] {
        let both = text(format, RenderOptions::default());
        assert!(both.contains("anthropic_work_queue_wait_seconds_bucket{environment_id=\"env_a\",team=\"core\",le=\"60\"} 2\n"));
        let native = text(format, mode(HistogramMode::Native));
        let buckets: Vec<&str> = native
            .lines()
            .filter(|l| l.starts_with("anthropic_work_queue_wait_seconds_bucket{"))
            .collect();
        assert_eq!(
            buckets.len(),
            3,
            "one +Inf bucket per environment: {buckets:?}"
        );
        assert!(buckets.iter().all(|l| l.contains("le=\"+Inf\"")));
        assert!(native.contains(
            "anthropic_work_queue_wait_seconds_count{environment_id=\"env_a\",team=\"core\"} 2\n"
        ));
    }
    promtool_check(&text(Format::Text, mode(HistogramMode::Native)));
    promtool_check(&text(
        Format::Text,
        filter(&[], &["anthropic_work_*_seconds"]),
    ));
}

#[test]
fn the_family_filter_drops_the_same_families_in_every_format() {
    let deny = || filter(&[], &["anthropic_work_*_seconds", "process_*"]);
    for format in [Format::Text, Format::OpenMetrics] {
        let body = text(format, deny());
        assert!(
            !body.contains("anthropic_work_queue_wait_seconds"),
            "{format:?}"
        );
        assert!(!body.contains("process_"), "{format:?}");
        assert!(body.contains("anthropic_work_up{"), "{format:?}");
    }
    let names: Vec<String> = decode(&render(Format::Protobuf, deny()))
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert!(names.contains(&"anthropic_work_up".to_string()));
    assert!(!names.iter().any(|n| n.ends_with("_seconds")
        && n.starts_with("anthropic_work_")
        && !n.contains("exporter")));
    let only_up = text(Format::Text, filter(&["anthropic_work_up"], &[]));
    assert_eq!(only_up.matches("# TYPE ").count(), 1, "{only_up}");
}

#[test]
fn protobuf_carries_native_buckets_beside_the_classic_ones() {
    let families = decode(&render(Format::Protobuf, RenderOptions::default()));
    let wait = families
        .iter()
        .find(|f| f.name == "anthropic_work_queue_wait_seconds")
        .expect("the queue wait family");
    assert_eq!(wait.kind, 4, "HISTOGRAM");
    assert_eq!(wait.histograms.len(), 3, "one per environment");
    let a = &wait.histograms[0];
    assert_eq!((a.count, a.sum), (2, 42.7));
    assert_eq!(a.schema, SCHEMA);
    assert_eq!(a.zero_threshold, ZERO_THRESHOLD);
    // 0.7 s and 42 s: buckets 2^(i/8) with i = ceil(8 log2 v) = -4 and 44.
    assert_eq!(a.native_buckets(), vec![(-4, 1), (44, 1)]);
    assert_eq!(a.classic.len(), 13, "12 bounds and +Inf");
    assert_eq!(a.classic[6], (60.0, 2));
    // An environment with no observations is still a native histogram.
    assert_eq!(wait.histograms[2].native_buckets(), vec![]);
    assert!(wait.histograms[2].zero_threshold > 0.0);
    let counter = families
        .iter()
        .find(|f| f.name == "anthropic_work_items_created_total")
        .unwrap();
    assert_eq!(counter.kind, 0, "COUNTER");
}

#[test]
fn histogram_modes_choose_the_buckets_protobuf_carries() {
    let wait = |options| {
        decode(&render(Format::Protobuf, options))
            .into_iter()
            .find(|f| f.name == "anthropic_work_queue_wait_seconds")
            .unwrap()
            .histograms
            .remove(0)
    };
    let native = wait(mode(HistogramMode::Native));
    assert!(native.classic.is_empty());
    assert_eq!(native.native_buckets().len(), 2);
    let classic = wait(mode(HistogramMode::Classic));
    assert_eq!(classic.classic.len(), 13);
    assert_eq!(classic.zero_threshold, 0.0, "no native fields at all");
}

/// What this test reads back from the protobuf body.
#[derive(Debug, Default)]
struct Family {
    name: String,
    kind: u64,
    histograms: Vec<Hist>,
}

#[derive(Debug, Default)]
struct Hist {
    count: u64,
    sum: f64,
    classic: Vec<(f64, u64)>,
    schema: i32,
    zero_threshold: f64,
    spans: Vec<(i64, u64)>,
    deltas: Vec<i64>,
}

impl Hist {
    /// (index, count) of every native bucket, from spans and deltas.
    fn native_buckets(&self) -> Vec<(i64, i64)> {
        let (mut out, mut deltas, mut index, mut count) = (vec![], self.deltas.iter(), 0, 0);
        for (offset, length) in &self.spans {
            index += offset;
            for _ in 0..*length {
                count += deltas.next().unwrap();
                out.push((index, count));
                index += 1;
            }
        }
        out
    }
}

/// A protobuf field: number and value (varint, 64-bit or bytes).
enum Value<'a> {
    Int(u64),
    Fixed(u64),
    Bytes(&'a [u8]),
}

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return v;
        }
        shift += 7;
    }
}

fn fields(b: &[u8]) -> Vec<(u64, Value<'_>)> {
    let (mut at, mut out) = (0, vec![]);
    while at < b.len() {
        let key = varint(b, &mut at);
        let value = match key & 7 {
            0 => Value::Int(varint(b, &mut at)),
            1 => {
                at += 8;
                Value::Fixed(u64::from_le_bytes(b[at - 8..at].try_into().unwrap()))
            }
            2 => {
                let n = varint(b, &mut at) as usize;
                at += n;
                Value::Bytes(&b[at - n..at])
            }
            w => panic!("unexpected wire type {w}"),
        };
        out.push((key >> 3, value));
    }
    out
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn decode(body: &[u8]) -> Vec<Family> {
    let (mut at, mut out) = (0, vec![]);
    while at < body.len() {
        let n = varint(body, &mut at) as usize;
        let mut f = Family::default();
        for (field, v) in fields(&body[at..at + n]) {
            match (field, v) {
                (1, Value::Bytes(s)) => f.name = String::from_utf8(s.to_vec()).unwrap(),
                (3, Value::Int(k)) => f.kind = k,
                (4, Value::Bytes(m)) => {
                    for (mf, mv) in fields(m) {
                        if let (7, Value::Bytes(h)) = (mf, mv) {
                            f.histograms.push(histogram(h));
                        }
                    }
                }
                _ => {}
            }
        }
        at += n;
        out.push(f);
    }
    out
}

fn histogram(b: &[u8]) -> Hist {
    let mut h = Hist::default();
    for (field, v) in fields(b) {
        match (field, v) {
            (1, Value::Int(c)) => h.count = c,
            (2, Value::Fixed(s)) => h.sum = f64::from_bits(s),
            (3, Value::Bytes(bucket)) => {
                let (mut upper, mut cumulative) = (0.0, 0);
                for (bf, bv) in fields(bucket) {
                    match (bf, bv) {
                        (1, Value::Int(c)) => cumulative = c,
                        (2, Value::Fixed(u)) => upper = f64::from_bits(u),
                        _ => {}
                    }
                }
                h.classic.push((upper, cumulative));
            }
            (5, Value::Int(s)) => h.schema = unzigzag(s) as i32,
            (6, Value::Fixed(z)) => h.zero_threshold = f64::from_bits(z),
            (12, Value::Bytes(span)) => {
                let (mut offset, mut length) = (0, 0);
                for (sf, sv) in fields(span) {
                    match (sf, sv) {
                        (1, Value::Int(o)) => offset = unzigzag(o),
                        (2, Value::Int(l)) => length = l,
                        _ => {}
                    }
                }
                h.spans.push((offset, length));
            }
            (13, Value::Bytes(packed)) => {
                let mut at = 0;
                while at < packed.len() {
                    h.deltas.push(unzigzag(varint(packed, &mut at)));
                }
            }
            _ => {}
        }
    }
    h
}
