//! The one exposition writer: Prometheus text 0.0.4, OpenMetrics 1.0 text or
//! delimited protobuf (`format`), with the family filter and histogram mode
//! of `config::RenderOptions` applied to every family written through it. Every
//! family, the exporter's own included, is written through these verbs, so a
//! family added anywhere is served in every format.

use super::format::Format;
use super::protobuf::FamilyBuf;
use crate::config::RenderOptions;
use crate::snapshot::Histogram;
use std::fmt::Write;
pub use values::Buckets;
use values::{escape_into, write_value};

mod values;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Kind {
    #[default]
    Gauge,
    Counter,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
            Kind::Histogram => "histogram",
        }
    }
}

/// Exposition being built: in `out` (text) or `bin` (protobuf), or passed
/// on to a sink in pieces (a compressor, so that a large exposition is never
/// whole in memory).
#[derive(Default)]
pub struct Exposition<'s> {
    pub out: String,
    sink: Option<&'s mut dyn std::io::Write>,
    failed: Option<std::io::Error>,
    format: Format,
    options: RenderOptions,
    /// The kind of the family being written, and whether the filter drops it.
    kind: Kind,
    dropped: bool,
    /// OpenMetrics: whether the family's `_created` samples are written
    /// (the filter can drop `<family>_created` alone).
    created: bool,
    family: FamilyBuf,
    bin: Vec<u8>,
}

impl std::fmt::Debug for Exposition<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exposition")
            .field("format", &self.format)
            .field("buffered", &(self.out.len() + self.bin.len()))
            .field("streaming", &self.sink.is_some())
            .finish()
    }
}

/// How much text a streaming exposition gathers before passing it on.
const PIECE: usize = 64 * 1024;

/// Label pairs of one series; values are escaped on write.
pub type Labels<'a> = [(&'a str, &'a str)];

/// Unit suffixes that get an OpenMetrics `# UNIT` line.
const UNITS: [&str; 2] = ["seconds", "bytes"];

impl<'s> Exposition<'s> {
    pub fn with_capacity(n: usize) -> Self {
        Exposition {
            out: String::with_capacity(n),
            ..Exposition::default()
        }
    }

    /// An exposition in `format`, rendered with `options`, kept in memory.
    pub fn new(format: Format, options: &RenderOptions, capacity: usize) -> Self {
        let mut e = Exposition {
            format,
            options: options.clone(),
            ..Exposition::default()
        };
        match format {
            Format::Protobuf => e.bin.reserve(capacity / 3),
            _ => e.out.reserve(capacity),
        }
        e
    }

    /// A text 0.0.4 exposition written to `sink` in pieces of about 64 KiB.
    pub fn streaming(sink: &'s mut dyn std::io::Write) -> Self {
        Self::streaming_as(sink, Format::Text, &RenderOptions::default())
    }

    /// An exposition in `format` written to `sink` in pieces of about 64 KiB.
    pub fn streaming_as(
        sink: &'s mut dyn std::io::Write,
        format: Format,
        options: &RenderOptions,
    ) -> Self {
        Exposition {
            out: String::with_capacity(PIECE + 4096),
            sink: Some(sink),
            format,
            options: options.clone(),
            ..Exposition::default()
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Pass the gathered output on once a piece is full.
    fn spill(&mut self, at_least: usize) {
        if self.out.len() + self.bin.len() < at_least {
            return;
        }
        if let Some(sink) = self.sink.as_mut() {
            if self.failed.is_none() {
                let written = sink
                    .write_all(self.out.as_bytes())
                    .and_then(|()| sink.write_all(&self.bin));
                if let Err(e) = written {
                    self.failed = Some(e);
                }
            }
            self.out.clear();
            self.bin.clear();
        }
    }

    /// End the exposition (the last protobuf family, OpenMetrics' `# EOF`).
    fn end(&mut self) {
        self.family.close(&mut self.bin);
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
    }

    /// A streaming exposition: write what is left; the first write error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.end();
        self.spill(0);
        match self.failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// An exposition kept in memory: the whole body.
    pub fn into_body(mut self) -> Vec<u8> {
        self.end();
        match self.format {
            Format::Protobuf => self.bin,
            _ => self.out.into_bytes(),
        }
    }

    /// Start a family (dropped, with all its samples, when the filter says so).
    pub fn header(&mut self, name: &str, kind: Kind, help: &str) {
        self.family.close(&mut self.bin);
        self.kind = kind;
        self.dropped = !self.options.families.keeps(name);
        if self.dropped {
            return;
        }
        match self.format {
            Format::Protobuf => self.family.open(name, help, kind),
            Format::Text => {
                let help = help.replace('\\', "\\\\").replace('\n', "\\n");
                let _ = writeln!(self.out, "# HELP {name} {help}");
                let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
            }
            Format::OpenMetrics => {
                // A counter's family is named without `_total`, which only its samples carry.
                let family = match kind {
                    Kind::Counter => name.strip_suffix("_total").unwrap_or(name),
                    _ => name,
                };
                // Prometheus 2.x stores `_created` samples as series of their own: only
                // on request (`RenderOptions::created_samples`), and the filter can still drop
                // one family's alone (`<family>_created`).
                self.created = self.options.created_samples
                    && self.options.families.keeps(&format!("{family}_created"));
                let mut escaped = String::with_capacity(help.len());
                escape_into(&mut escaped, help);
                let _ = writeln!(self.out, "# HELP {family} {escaped}");
                let _ = writeln!(self.out, "# TYPE {family} {}", kind.as_str());
                if let Some(unit) = UNITS.iter().find(|u| {
                    family
                        .strip_suffix(*u)
                        .is_some_and(|rest| rest.ends_with('_'))
                }) {
                    let _ = writeln!(self.out, "# UNIT {family} {unit}");
                }
            }
        }
        self.spill(PIECE);
    }

    /// One sample: `name{labels} value`.
    pub fn sample(&mut self, name: &str, labels: &Labels<'_>, extra: &Labels<'_>, value: f64) {
        if self.dropped {
            return;
        }
        if self.format == Format::Protobuf {
            self.family.sample(self.kind, labels, extra, value);
            self.spill(PIECE);
            return;
        }
        self.sample_parts(name, "", labels, extra, value);
    }

    /// A counter's sample, with its `_created` sample in OpenMetrics when
    /// the counter's start (Unix seconds) is known.
    pub fn counter(
        &mut self,
        name: &str,
        labels: &Labels<'_>,
        extra: &Labels<'_>,
        value: f64,
        created: Option<f64>,
    ) {
        self.sample(name, labels, extra, value);
        if let (Format::OpenMetrics, false, true, Some(created)) =
            (self.format, self.dropped, self.created, created)
        {
            let stem = name.strip_suffix("_total").unwrap_or(name);
            self.sample_parts(stem, "_created", labels, extra, created);
        }
    }

    /// One sample of `name` + `suffix` (`_bucket`, `_sum`, …), written without
    /// a temporary string: a thousand environments make some 90,000 lines.
    fn sample_parts(
        &mut self,
        name: &str,
        suffix: &str,
        labels: &Labels<'_>,
        extra: &Labels<'_>,
        value: f64,
    ) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        // Two plain loops, not a chained iterator: a thousand environments
        // make some 90,000 lines (the chain took a text render at 1,000
        // environments from 13.5 to 14.3 ms in `bench --formats 1000`).
        let mut first = true;
        for pairs in [labels, extra] {
            for &(k, v) in pairs {
                self.out.push(if first { '{' } else { ',' });
                first = false;
                self.out.push_str(k);
                self.out.push_str("=\"");
                escape_into(&mut self.out, v);
                self.out.push('"');
            }
        }
        if !first {
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
        self.spill(PIECE);
    }

    /// A histogram's `_bucket`, `_sum` and `_count` samples from per-bucket counts.
    pub fn histogram(
        &mut self,
        name: &str,
        labels: &Labels<'_>,
        bounds: &[f64],
        counts: &[u64],
        sum: f64,
        count: u64,
    ) {
        self.histogram_with(&Buckets::new(bounds), name, labels, counts, sum, count);
    }

    /// `histogram` with the `le` values formatted once for every series of a family.
    pub fn histogram_with(
        &mut self,
        buckets: &Buckets,
        name: &str,
        labels: &Labels<'_>,
        counts: &[u64],
        sum: f64,
        count: u64,
    ) {
        self.classic_histogram(buckets, name, labels, counts, (sum, count), None);
    }

    /// A histogram with fixed buckets only (per-bucket `counts`), with
    /// `_created` (Unix seconds) in OpenMetrics when known.
    pub fn classic_histogram(
        &mut self,
        buckets: &Buckets,
        name: &str,
        labels: &Labels<'_>,
        counts: &[u64],
        (sum, count): (f64, u64),
        created: Option<f64>,
    ) {
        self.histogram_parts(buckets, name, labels, (counts, None), (sum, count), created);
    }

    /// A lifecycle histogram: fixed buckets, native ones or both, as
    /// `--metrics.histograms` and the format allow, and `_created` (Unix
    /// seconds) in OpenMetrics.
    pub fn lifecycle(
        &mut self,
        buckets: &Buckets,
        name: &str,
        labels: &Labels<'_>,
        h: &Histogram,
        created: Option<f64>,
    ) {
        let mode = self.options.histograms;
        let classic: &[u64] = if mode.classic_in(self.format) {
            &h.counts
        } else {
            &[]
        };
        let native = mode.native_in(self.format).then_some(&h.native);
        self.histogram_parts(
            buckets,
            name,
            labels,
            (classic, native),
            (h.sum, h.count),
            created,
        );
    }

    /// The one histogram writer: per-bucket `counts` (empty: only the
    /// `+Inf` bucket the text formats require), native buckets for protobuf.
    fn histogram_parts(
        &mut self,
        buckets: &Buckets,
        name: &str,
        labels: &Labels<'_>,
        (counts, native): (&[u64], Option<&crate::snapshot::native::Native>),
        (sum, count): (f64, u64),
        created: Option<f64>,
    ) {
        if self.dropped {
            return;
        }
        let mut cumulative = 0;
        if self.format == Format::Protobuf {
            let classic: Vec<(f64, u64)> = counts
                .iter()
                .zip(buckets.bounds.iter().copied().chain([f64::INFINITY]))
                .map(|(c, upper)| {
                    cumulative += c;
                    (upper, cumulative)
                })
                .collect();
            self.family.histogram(labels, &classic, native, sum, count);
            self.spill(PIECE);
            return;
        }
        if counts.is_empty() {
            self.sample_parts(name, "_bucket", labels, &[("le", "+Inf")], count as f64);
        }
        for (i, c) in counts.iter().enumerate() {
            cumulative += c;
            let le = buckets.le.get(i).map_or("+Inf", String::as_str);
            self.sample_parts(name, "_bucket", labels, &[("le", le)], cumulative as f64);
        }
        self.sample_parts(name, "_sum", labels, &[], sum);
        self.sample_parts(name, "_count", labels, &[], count as f64);
        if let (Format::OpenMetrics, true, Some(created)) = (self.format, self.created, created) {
            self.sample_parts(name, "_created", labels, &[], created);
        }
    }
}

#[cfg(test)]
mod tests;
