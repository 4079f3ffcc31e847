//! CloudWatch metrics through the Embedded Metric Format: a `metrics` recorder that keeps a
//! chosen few of the server's metrics, under CloudWatch names and low-cardinality dimensions,
//! and writes them as EMF JSON lines (to stdout in `serve`), which ECS's `awslogs` driver or the
//! CloudWatch agent turn into metrics with no API call and no permission beyond writing logs.
//!
//! Aggregated, not per turn: counters are summed and written once an interval (a minute), and
//! the samples of a distribution (time to first token, turn duration) are written as arrays of
//! up to 100 values, the most one EMF metric may hold, so at 200 turns a second a minute is a
//! few hundred lines, not 12,000.
//!
//! Why not `metrics_cloudwatch_embedded`: it is built for Lambda, where each invocation
//! flushes; a histogram there holds at most 100 unflushed samples and drops the rest (logging an
//! error for each), and every label becomes a dimension. A server flushing each minute would lose
//! almost every sample, and one stray label would multiply the custom metrics billed.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use serde_json::{Map, Value, json};

/// The most values one EMF metric may carry in a line (the specification's limit).
const MOST_VALUES: usize = 100;

/// The most samples a distribution keeps between two flushes; past it new samples are dropped
/// (and counted in the line's `DroppedSamples` member), so memory stays bounded whatever the load.
const MOST_PENDING: usize = 100_000;

/// Where and under which names the server's metrics go in CloudWatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudWatchMetrics {
    /// The CloudWatch namespace (`BedrockChat`).
    pub namespace: String,
    /// The `Service` dimension every metric carries: which deployment this instance is part of.
    pub service: String,
}

/// What a metric of the server's is called in CloudWatch, and how its value converts.
struct Translation {
    name: &'static str,
    unit: &'static str,
    /// Multiplies each value (seconds to milliseconds, micro-dollars to dollars).
    scale: f64,
    /// The labels kept as dimensions, as (label, dimension name).
    dimensions: &'static [(&'static str, &'static str)],
}

const MODEL: &[(&str, &str)] = &[("model", "Model")];

/// The one table of what goes to CloudWatch. Anything not here (HTTP requests by route, the
/// store's latency, active streams) stays in Prometheus only, and any label not named here is
/// summed over, so no visitor, conversation or key can ever become a dimension.
fn translate(key: &Key) -> Option<Translation> {
    let label = |name: &str| {
        key.labels()
            .find(|l| l.key() == name)
            .map(|l| l.value().to_string())
    };
    let (name, unit, scale, dimensions): (_, _, _, &'static [(&str, &str)]) = match key.name() {
        "bedrock_chat_turns_total" => (
            "Turns",
            "Count",
            1.0,
            &[("model", "Model"), ("outcome", "Outcome")],
        ),
        "bedrock_chat_tokens_total" => {
            let name = match label("direction").as_deref() {
                Some("input") => "InputTokens",
                Some("output") => "OutputTokens",
                Some("cache_read") => "CacheReadTokens",
                Some("cache_write") => "CacheWriteTokens",
                _ => return None,
            };
            (name, "Count", 1.0, MODEL)
        }
        "bedrock_chat_cost_microdollars_total" => ("CostUSD", "None", 1e-6, MODEL),
        "bedrock_chat_time_to_first_token_seconds" => {
            ("TimeToFirstToken", "Milliseconds", 1e3, MODEL)
        }
        "bedrock_chat_turn_duration_seconds" => ("TurnDuration", "Milliseconds", 1e3, MODEL),
        "bedrock_chat_retries_total" => ("Retries", "Count", 1.0, &[]),
        "bedrock_chat_throttles_total" => ("Throttles", "Count", 1.0, &[]),
        "bedrock_chat_turn_errors_total" => ("Errors", "Count", 1.0, &[("kind", "Kind")]),
        "bedrock_chat_refusals_total" => ("Refusals", "Count", 1.0, &[("limit", "Limit")]),
        "bedrock_chat_reply_cache_lookups_total" => match label("result").as_deref() {
            Some("hit") => ("ReplyCacheHits", "Count", 1.0, &[]),
            Some("miss") => ("ReplyCacheMisses", "Count", 1.0, &[]),
            _ => return None,
        },
        "bedrock_chat_reply_cache_saved_microdollars_total" => {
            ("ReplyCacheSavedUSD", "None", 1e-6, &[])
        }
        "bedrock_chat_reply_cache_entries" => ("ReplyCacheEntries", "Count", 1.0, &[]),
        _ => return None,
    };
    Some(Translation {
        name,
        unit,
        scale,
        dimensions,
    })
}

/// One line's dimension values (besides `Service`), in the table's order.
type Dimensions = Vec<(&'static str, String)>;

/// A counter's running sum since the last flush, in the metric's own unit (after scaling).
#[derive(Default)]
struct Sum(Mutex<f64>);

/// A counter handed to the `metrics` facade: whole increments, scaled into the sum.
struct SumHandle {
    sum: Arc<Sum>,
    scale: f64,
    /// For `absolute`: the last value seen, so only the growth is added.
    last: AtomicU64,
}

impl CounterFn for SumHandle {
    fn increment(&self, value: u64) {
        if let Ok(mut sum) = self.sum.0.lock() {
            *sum += value as f64 * self.scale;
        }
    }

    fn absolute(&self, value: u64) {
        let before = self.last.swap(value, Ordering::Relaxed);
        self.increment(value.saturating_sub(before));
    }
}

/// A gauge's value, as `f64` bits; NaN until it is first set.
struct Level(AtomicU64);

impl metrics::GaugeFn for Level {
    fn increment(&self, value: f64) {
        let now = f64::from_bits(self.0.load(Ordering::Relaxed));
        let now = if now.is_nan() { 0.0 } else { now };
        self.set(now + value);
    }

    fn decrement(&self, value: f64) {
        self.increment(-value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// A distribution's samples since the last flush.
#[derive(Default)]
struct Samples {
    values: Vec<f64>,
    dropped: u64,
}

struct SamplesHandle {
    samples: Arc<Mutex<Samples>>,
    scale: f64,
}

impl HistogramFn for SamplesHandle {
    fn record(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        if let Ok(mut samples) = self.samples.lock() {
            if samples.values.len() < MOST_PENDING {
                samples.values.push(significant(value * self.scale));
            } else {
                samples.dropped += 1;
            }
        }
    }
}

/// `value` to four significant digits (1234.5678 ms is 1235 ms): far finer than any percentile
/// CloudWatch computes, and a third of the log bytes of a full `f64`.
fn significant(value: f64) -> f64 {
    if value == 0.0 {
        return 0.0;
    }
    let scale = 10f64.powi(3 - value.abs().log10().floor() as i32);
    (value * scale).round() / scale
}

/// A series' identity: its dimension values and its CloudWatch name.
type SeriesKey = (Dimensions, &'static str);

/// Every series, with its unit.
#[derive(Default)]
struct Series {
    sums: BTreeMap<SeriesKey, (Arc<Sum>, &'static str)>,
    samples: BTreeMap<SeriesKey, (Arc<Mutex<Samples>>, &'static str)>,
    levels: BTreeMap<SeriesKey, (Arc<Level>, &'static str)>,
}

/// One interval's values of one set of dimension values: (name, unit, sum) and (name, unit,
/// samples).
type LineValues<'a> = (
    Vec<(&'a str, &'a str, f64)>,
    Vec<(&'a str, &'a str, Samples)>,
);

/// The recorder, and what it has gathered since the last [`flush`](Self::flush).
pub struct EmfRecorder {
    config: CloudWatchMetrics,
    series: Mutex<Series>,
    /// The facade registers a key on every `counter!` call: each key is translated once.
    counters: Mutex<HashMap<Key, Option<Counter>>>,
    histograms: Mutex<HashMap<Key, Option<Histogram>>>,
    gauges: Mutex<HashMap<Key, Option<Gauge>>>,
}

impl std::fmt::Debug for EmfRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmfRecorder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl EmfRecorder {
    /// A recorder for `config`, gathering nothing yet.
    pub fn new(config: CloudWatchMetrics) -> Self {
        EmfRecorder {
            config,
            series: Mutex::default(),
            counters: Mutex::default(),
            histograms: Mutex::default(),
            gauges: Mutex::default(),
        }
    }

    /// The handle for `key`, made once and kept in `handles`: `make` gets the series, the key's
    /// place among them (dimension values and CloudWatch name) and its translation. A key
    /// CloudWatch does not take gets a no-op handle, also kept, so it is translated only once.
    fn handle<H: Clone>(
        &self,
        handles: &Mutex<HashMap<Key, Option<H>>>,
        key: &Key,
        noop: fn() -> H,
        make: impl FnOnce(&mut Series, SeriesKey, &Translation) -> H,
    ) -> H {
        let Ok(mut handles) = handles.lock() else {
            return noop();
        };
        handles
            .entry(key.clone())
            .or_insert_with(|| {
                let translation = translate(key)?;
                let place = (Self::dimensions(key, &translation), translation.name);
                let mut series = self.series.lock().ok()?;
                Some(make(&mut series, place, &translation))
            })
            .clone()
            .unwrap_or_else(noop)
    }

    fn dimensions(key: &Key, translation: &Translation) -> Dimensions {
        translation
            .dimensions
            .iter()
            .map(|(label, dimension)| {
                let value = key
                    .labels()
                    .find(|l| l.key() == *label)
                    .map_or_else(|| "none".to_string(), |l| l.value().to_string());
                (*dimension, value)
            })
            .collect()
    }

    /// Writes what was gathered since the last flush as EMF lines, one per set of dimension
    /// values (more when a distribution has more than 100 samples), and starts again from
    /// nothing. Nothing is written for an interval with nothing in it.
    ///
    /// # Errors
    ///
    /// Writing to `out` failed.
    pub fn flush(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // Take the values out first, so recording never waits on the writer.
        let mut lines: BTreeMap<Dimensions, LineValues<'_>> = BTreeMap::new();
        {
            let series = self.series.lock().map_err(poisoned)?;
            for ((dimensions, name), (sum, unit)) in &series.sums {
                let value = std::mem::take(&mut *sum.0.lock().map_err(poisoned)?);
                if value != 0.0 {
                    lines
                        .entry(dimensions.clone())
                        .or_default()
                        .0
                        .push((name, unit, value));
                }
            }
            for ((dimensions, name), (level, unit)) in &series.levels {
                // A gauge is written each interval once it has a value: it says how things
                // are, not what happened.
                let value = f64::from_bits(level.0.load(Ordering::Relaxed));
                if !value.is_nan() {
                    lines
                        .entry(dimensions.clone())
                        .or_default()
                        .0
                        .push((name, unit, value));
                }
            }
            for ((dimensions, name), (samples, unit)) in &series.samples {
                let taken = std::mem::take(&mut *samples.lock().map_err(poisoned)?);
                if !taken.values.is_empty() {
                    lines
                        .entry(dimensions.clone())
                        .or_default()
                        .1
                        .push((name, unit, taken));
                }
            }
        }
        let mut buffer = Vec::new();
        for (dimensions, (sums, samples)) in lines {
            let chunks = samples
                .iter()
                .map(|(_, _, s)| s.values.len().div_ceil(MOST_VALUES))
                .max()
                .unwrap_or(0)
                .max(1);
            for chunk in 0..chunks {
                let mut metrics = Vec::new();
                let mut root = Map::new();
                if chunk == 0 {
                    for (name, unit, value) in &sums {
                        metrics.push(json!({"Name": name, "Unit": unit}));
                        root.insert((*name).to_string(), json!(value));
                    }
                }
                let mut dropped = 0;
                for (name, unit, taken) in &samples {
                    let start = chunk * MOST_VALUES;
                    if start >= taken.values.len() {
                        continue;
                    }
                    let end = (start + MOST_VALUES).min(taken.values.len());
                    metrics.push(json!({"Name": name, "Unit": unit}));
                    root.insert((*name).to_string(), json!(&taken.values[start..end]));
                    if chunk == 0 {
                        dropped += taken.dropped;
                    }
                }
                if metrics.is_empty() {
                    continue;
                }
                if dropped > 0 {
                    // A property, not a metric: it tells the reader of the logs, costs nothing.
                    root.insert("DroppedSamples".to_string(), json!(dropped));
                }
                let mut detailed = vec![Value::from("Service")];
                detailed.extend(dimensions.iter().map(|(name, _)| Value::from(*name)));
                let mut sets = vec![Value::Array(detailed)];
                if !dimensions.is_empty() {
                    // Every metric also under `Service` alone, for dashboards and alarms.
                    sets.push(json!(["Service"]));
                }
                root.insert("Service".to_string(), json!(self.config.service));
                for (name, value) in &dimensions {
                    root.insert((*name).to_string(), json!(value));
                }
                root.insert(
                    "_aws".to_string(),
                    json!({
                        "Timestamp": timestamp,
                        "CloudWatchMetrics": [{
                            "Namespace": self.config.namespace,
                            "Dimensions": sets,
                            "Metrics": metrics,
                        }],
                    }),
                );
                serde_json::to_writer(&mut buffer, &Value::Object(root))?;
                buffer.push(b'\n');
            }
        }
        // One write: lines from two flushes (the minute's and SIGTERM's) never interleave.
        out.write_all(&buffer)?;
        out.flush()
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> std::io::Error {
    std::io::Error::other("a metrics lock was poisoned")
}

impl Recorder for EmfRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.handle(&self.counters, key, Counter::noop, |series, place, t| {
            let (sum, _) = series
                .sums
                .entry(place)
                .or_insert_with(|| (Arc::default(), t.unit));
            Counter::from_arc(Arc::new(SumHandle {
                sum: sum.clone(),
                scale: t.scale,
                last: AtomicU64::new(0),
            }))
        })
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.handle(&self.gauges, key, Gauge::noop, |series, place, t| {
            let (level, _) = series
                .levels
                .entry(place)
                .or_insert_with(|| (Arc::new(Level(AtomicU64::new(f64::NAN.to_bits()))), t.unit));
            Gauge::from_arc(level.clone())
        })
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.handle(
            &self.histograms,
            key,
            Histogram::noop,
            |series, place, t| {
                let (samples, _) = series
                    .samples
                    .entry(place)
                    .or_insert_with(|| (Arc::default(), t.unit));
                Histogram::from_arc(Arc::new(SamplesHandle {
                    samples: samples.clone(),
                    scale: t.scale,
                }))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> EmfRecorder {
        EmfRecorder::new(CloudWatchMetrics {
            namespace: "Test".to_string(),
            service: "chat".to_string(),
        })
    }

    fn lines(recorder: &EmfRecorder) -> Vec<Value> {
        let mut out = Vec::new();
        recorder.flush(&mut out).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn counters_are_summed_per_dimensions_and_unknown_labels_are_summed_over() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            for visitor in ["a", "b", "c"] {
                metrics::counter!("bedrock_chat_turns_total", "model" => "m", "outcome" => "ok",
                    "visitor" => visitor)
                .increment(1);
            }
            metrics::counter!("bedrock_chat_cost_microdollars_total", "model" => "m")
                .increment(1_500);
            metrics::counter!("bedrock_chat_http_requests_total", "route" => "/").increment(1);
        });
        let lines = lines(&recorder);
        assert_eq!(lines.len(), 2, "{lines:?}");
        let cost = lines.iter().find(|l| l.get("CostUSD").is_some()).unwrap();
        assert_eq!(cost["CostUSD"], json!(0.0015));
        assert_eq!(cost["Model"], "m");
        let turns = lines.iter().find(|l| l.get("Turns").is_some()).unwrap();
        assert_eq!(turns["Turns"], json!(3.0));
        assert_eq!(turns["Outcome"], "ok");
        assert!(turns.get("visitor").is_none() && turns.get("Visitor").is_none());
        assert_eq!(
            turns["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            json!([["Service", "Model", "Outcome"], ["Service"]])
        );
        // Flushed: the next interval starts from nothing.
        assert!(super::tests::lines(&recorder).is_empty());
    }

    #[test]
    fn samples_keep_four_significant_digits() {
        assert_eq!(significant(1234.5678), 1235.0);
        assert_eq!(significant(0.012_345_6), 0.01235);
        assert_eq!(significant(98_765.4), 98_770.0);
        assert_eq!(significant(0.0), 0.0);
    }

    #[test]
    fn samples_go_out_a_hundred_values_a_line_and_are_bounded() {
        let recorder = recorder();
        metrics::with_local_recorder(&recorder, || {
            for n in 0..250 {
                metrics::histogram!("bedrock_chat_turn_duration_seconds", "model" => "m")
                    .record(f64::from(n) / 1000.0);
            }
        });
        let lines = lines(&recorder);
        let counts: Vec<usize> = lines
            .iter()
            .map(|l| l["TurnDuration"].as_array().unwrap().len())
            .collect();
        assert_eq!(counts, [100, 100, 50]);
        assert_eq!(lines[0]["TurnDuration"][1], json!(1.0), "seconds become ms");

        metrics::with_local_recorder(&recorder, || {
            let histogram = metrics::histogram!("bedrock_chat_turn_duration_seconds",
                "model" => "m");
            for _ in 0..MOST_PENDING + 7 {
                histogram.record(0.5);
            }
        });
        let lines = super::tests::lines(&recorder);
        assert_eq!(lines.len(), MOST_PENDING / MOST_VALUES);
        assert_eq!(lines[0]["DroppedSamples"], json!(7));
    }
}
