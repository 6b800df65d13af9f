//! The body of `POST /api/v1/metrics`, its validation, and its folding into per-minute rows.
//!
//! ```json
//! {
//!   "batch_id": "checkout-7f3a-000123",
//!   "samples": [
//!     {"flag": "new-checkout", "environment": "production", "cohort": "treatment",
//!      "at": "2026-11-21T22:10:00Z", "requests": 120, "errors": 1,
//!      "latency_buckets": [10, 30, 40, 20, 12, 5, 2, 1, 0, 0, 0, 0], "latency_sum_ms": 3120.5}
//!   ],
//!   "gauges": [
//!     {"name": "queue_lag_seconds", "environment": "production", "at": "2026-11-21T22:10:00Z", "value": 3.5}
//!   ]
//! }
//! ```
//!
//! - `batch_id` makes a retry safe: a batch sent twice by the same token counts once.
//! - `cohort` is `treatment` (flag on), `control` (flag off) or `variant:<key>`.
//! - `latency_buckets` are the 12 counts of [`super::BUCKET_BOUNDS_MS`], not cumulative; optional (no
//!   latency), and they may count fewer requests than `requests` (an application may time only some).
//! - `environment` may be left out with an evaluate token: the token's environment. `at` defaults to the
//!   time of receipt; samples are aggregated per minute, and may be up to 24 hours old or 5 minutes ahead.
//!   A minute in which a rollout of the flag starts is kept in two parts, before and after the start
//!   ([`Cuts`]), so that a rollout's guardrails count exactly the samples whose `at` is at or after its start.
//! - A gauge may name a `flag`; most describe a system (queue lag, pending jobs) and do not.
//!
//! One bad sample refuses the whole batch, with the sample's path in the message, and stores nothing.

use super::histogram::{CohortStats, BUCKETS};
use super::spec::valid_gauge_name;
use crate::domain::{EnvKey, FlagKey};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Most samples plus gauges in one batch.
pub const MAX_BATCH_ITEMS: usize = 10_000;
/// How old a sample may be.
pub const MAX_SAMPLE_AGE: TimeDelta = TimeDelta::hours(24);
/// How far ahead of the server's clock a sample may be.
pub const MAX_SAMPLE_SKEW: TimeDelta = TimeDelta::minutes(5);

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricBatch {
    /// 1 to 100 of `A-Z a-z 0-9 _ . : -`; the same id from the same token counts once.
    #[cfg_attr(feature = "ssr", schema(pattern = r"^[A-Za-z0-9_.:-]{1,100}$"))]
    pub batch_id: String,
    #[serde(default)]
    pub samples: Vec<MetricSample>,
    #[serde(default)]
    pub gauges: Vec<GaugeSample>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSample {
    pub flag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub cohort: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub requests: u64,
    pub errors: u64,
    /// Counts (not cumulative) of requests with latency in ms <= 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
    /// 5000, 10000, +Inf: twelve numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ssr", schema(min_items = 12, max_items = 12))]
    pub latency_buckets: Option<Vec<u64>>,
    #[serde(default)]
    pub latency_sum_ms: f64,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GaugeSample {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub value: f64,
}

/// A sample's cohort.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Cohort {
    Treatment,
    Control,
    Variant(String),
}

impl Cohort {
    /// As stored in `metric_minutes.cohort`.
    pub fn as_text(&self) -> String {
        match self {
            Cohort::Treatment => "treatment".to_owned(),
            Cohort::Control => "control".to_owned(),
            Cohort::Variant(key) => format!("variant:{key}"),
        }
    }

    pub fn parse(text: &str) -> Option<Cohort> {
        match text {
            "treatment" => Some(Cohort::Treatment),
            "control" => Some(Cohort::Control),
            _ => {
                let key = text.strip_prefix("variant:")?;
                let ok = !key.is_empty() && key.chars().count() <= 100 && !key.chars().any(char::is_whitespace);
                ok.then(|| Cohort::Variant(key.to_owned()))
            }
        }
    }
}

/// What is wrong with a batch, and where: `samples[3].errors`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct BatchError {
    pub path: String,
    pub message: String,
}

fn error(path: impl Into<String>, message: impl Into<String>) -> BatchError {
    BatchError { path: path.into(), message: message.into() }
}

/// One row to add into `metric_minutes`, keys still as text (the service resolves them).
#[derive(Debug, Clone, PartialEq)]
pub struct MinuteRow {
    pub flag: FlagKey,
    pub environment: EnvKey,
    pub cohort: Cohort,
    pub minute: DateTime<Utc>,
    /// Where the row's part of its minute begins: the minute itself, or a rollout's start within it.
    pub part_start: DateTime<Utc>,
    pub stats: CohortStats,
}

/// One row to add into `gauge_minutes`.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeRow {
    pub flag: Option<FlagKey>,
    pub environment: EnvKey,
    pub name: String,
    pub minute: DateTime<Utc>,
    /// As for [`MinuteRow::part_start`].
    pub part_start: DateTime<Utc>,
    pub count: u64,
    pub sum: f64,
    pub max: f64,
}

/// One valid sample, with the instant it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedSample {
    pub flag: FlagKey,
    pub environment: EnvKey,
    pub cohort: Cohort,
    pub at: DateTime<Utc>,
    pub stats: CohortStats,
}

/// One valid gauge point, with the instant it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct TimedGauge {
    pub flag: Option<FlagKey>,
    pub environment: EnvKey,
    pub name: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// A valid batch, sample by sample; [`ValidBatch::fold`] makes the rows to store.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidBatch {
    pub batch_id: String,
    pub sample_count: usize,
    pub samples: Vec<TimedSample>,
    pub gauges: Vec<TimedGauge>,
}

/// The rows a batch adds: each key and part of a minute once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FoldedBatch {
    pub minutes: Vec<MinuteRow>,
    pub gauges: Vec<GaugeRow>,
}

/// The instants at which rollouts started, which cut a minute in two: a rollout's guardrails read the
/// parts from its start on, and the pre-rollout baseline the parts before it. A flag's samples and gauges
/// are cut at that flag's starts; a gauge that names no flag, at every start in its environment (any
/// rollout may watch it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cuts {
    by_flag: HashMap<(FlagKey, EnvKey), Vec<DateTime<Utc>>>,
    by_environment: HashMap<EnvKey, Vec<DateTime<Utc>>>,
}

impl Cuts {
    /// Records that a rollout of `flag` in `environment` started at `at`.
    pub fn add(&mut self, flag: FlagKey, environment: EnvKey, at: DateTime<Utc>) {
        self.by_environment.entry(environment.clone()).or_default().push(at);
        self.by_flag.entry((flag, environment)).or_default().push(at);
    }

    /// Where the part of the minute holding `at` begins: the latest start within the minute at or before
    /// `at`, else the minute itself.
    pub fn part_start(&self, flag: Option<&FlagKey>, environment: &EnvKey, at: DateTime<Utc>) -> DateTime<Utc> {
        let minute = truncate_to_minute(at);
        let starts = match flag {
            Some(flag) => self.by_flag.get(&(flag.clone(), environment.clone())),
            None => self.by_environment.get(environment),
        };
        starts.into_iter().flatten().copied().filter(|start| *start > minute && *start <= at).max().unwrap_or(minute)
    }
}

fn truncate_to_minute(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

impl ValidBatch {
    /// The flag keys the batch names, each once.
    pub fn flag_keys(&self) -> Vec<&FlagKey> {
        let mut keys: Vec<&FlagKey> = self.samples.iter().map(|s| &s.flag).collect();
        keys.extend(self.gauges.iter().filter_map(|g| g.flag.as_ref()));
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The environment keys the batch names, each once.
    pub fn environment_keys(&self) -> Vec<&EnvKey> {
        let mut keys: Vec<&EnvKey> = self.samples.iter().map(|s| &s.environment).collect();
        keys.extend(self.gauges.iter().map(|g| &g.environment));
        keys.sort_unstable();
        keys.dedup();
        keys
    }

    /// The earliest instant of the batch, if it holds anything: rollouts started before its minute do not
    /// cut any of it.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.samples.iter().map(|s| s.at).chain(self.gauges.iter().map(|g| g.at)).min()
    }

    /// Folds the samples per flag, environment, cohort and part of a minute, and the gauges per flag,
    /// environment, name and part of a minute, so that each row is written once.
    pub fn fold(&self, cuts: &Cuts) -> FoldedBatch {
        type MinuteKey = (FlagKey, EnvKey, Cohort, DateTime<Utc>, DateTime<Utc>);
        let mut minutes: BTreeMap<MinuteKey, CohortStats> = BTreeMap::new();
        for sample in &self.samples {
            let part = cuts.part_start(Some(&sample.flag), &sample.environment, sample.at);
            let key = (
                sample.flag.clone(),
                sample.environment.clone(),
                sample.cohort.clone(),
                truncate_to_minute(sample.at),
                part,
            );
            minutes.entry(key).or_default().add(&sample.stats);
        }
        type GaugeKey = (Option<FlagKey>, EnvKey, String, DateTime<Utc>, DateTime<Utc>);
        // -> (count, sum, max)
        let mut gauges: BTreeMap<GaugeKey, (u64, f64, f64)> = BTreeMap::new();
        for gauge in &self.gauges {
            let part = cuts.part_start(gauge.flag.as_ref(), &gauge.environment, gauge.at);
            let key =
                (gauge.flag.clone(), gauge.environment.clone(), gauge.name.clone(), truncate_to_minute(gauge.at), part);
            let entry = gauges.entry(key).or_insert((0, 0.0, f64::MIN));
            entry.0 += 1;
            entry.1 += gauge.value;
            entry.2 = entry.2.max(gauge.value);
        }
        FoldedBatch {
            minutes: minutes
                .into_iter()
                .map(|((flag, environment, cohort, minute, part_start), stats)| MinuteRow {
                    flag,
                    environment,
                    cohort,
                    minute,
                    part_start,
                    stats,
                })
                .collect(),
            gauges: gauges
                .into_iter()
                .map(|((flag, environment, name, minute, part_start), (count, sum, max))| GaugeRow {
                    flag,
                    environment,
                    name,
                    minute,
                    part_start,
                    count,
                    sum,
                    max,
                })
                .collect(),
        }
    }
}

fn valid_batch_id(id: &str) -> bool {
    (1..=100).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "_.:-".contains(c))
}

fn instant_of(at: Option<DateTime<Utc>>, now: DateTime<Utc>, path: &str) -> Result<DateTime<Utc>, BatchError> {
    let at = at.unwrap_or(now);
    if at < now - MAX_SAMPLE_AGE {
        return Err(error(format!("{path}.at"), format!("{at} is more than 24 hours old")));
    }
    if at > now + MAX_SAMPLE_SKEW {
        return Err(error(format!("{path}.at"), format!("{at} is more than 5 minutes ahead of the server ({now})")));
    }
    Ok(at)
}

fn environment_of(given: Option<&str>, token_environment: Option<&EnvKey>, path: &str) -> Result<EnvKey, BatchError> {
    match (given, token_environment) {
        (Some(text), scoped) => {
            let key = EnvKey::parse(text).map_err(|e| error(format!("{path}.environment"), e.message))?;
            match scoped {
                Some(scoped) if *scoped != key => Err(error(
                    format!("{path}.environment"),
                    format!("this token reports for {scoped} only, not {key}"),
                )),
                _ => Ok(key),
            }
        }
        (None, Some(scoped)) => Ok(scoped.clone()),
        (None, None) => Err(error(format!("{path}.environment"), "missing: name the environment")),
    }
}

/// Validates a batch received at `now` from a token scoped to `token_environment` (None: any).
pub fn validate_batch(
    batch: &MetricBatch,
    token_environment: Option<&EnvKey>,
    now: DateTime<Utc>,
) -> Result<ValidBatch, BatchError> {
    if !valid_batch_id(&batch.batch_id) {
        return Err(error(
            "batch_id",
            "1 to 100 characters from letters, digits and _ . : - (the same id sent again counts once)",
        ));
    }
    let items = batch.samples.len() + batch.gauges.len();
    if items > MAX_BATCH_ITEMS {
        return Err(error("samples", format!("{items} items; a batch holds at most {MAX_BATCH_ITEMS}")));
    }
    let mut samples = Vec::with_capacity(batch.samples.len());
    // Per flag, environment, cohort and minute, to refuse sums that would overflow the stored counts.
    type SampleKey<'a> = (&'a str, Option<&'a str>, &'a str, DateTime<Utc>);
    let mut requests_per_minute: BTreeMap<SampleKey<'_>, u64> = BTreeMap::new();
    for (i, sample) in batch.samples.iter().enumerate() {
        let path = format!("samples[{i}]");
        let flag = FlagKey::parse(&sample.flag).map_err(|e| error(format!("{path}.flag"), e.message))?;
        let environment = environment_of(sample.environment.as_deref(), token_environment, &path)?;
        let cohort = Cohort::parse(&sample.cohort).ok_or_else(|| {
            error(
                format!("{path}.cohort"),
                format!("{:?}: expected treatment, control or variant:<key>", sample.cohort),
            )
        })?;
        let at = instant_of(sample.at, now, &path)?;
        if sample.errors > sample.requests {
            return Err(error(
                format!("{path}.errors"),
                format!("{} errors but only {} requests", sample.errors, sample.requests),
            ));
        }
        let mut buckets = [0u64; BUCKETS];
        if let Some(given) = &sample.latency_buckets {
            if given.len() != BUCKETS {
                return Err(error(
                    format!("{path}.latency_buckets"),
                    format!("{} counts; expected {BUCKETS}, one per bucket (see the API docs)", given.len()),
                ));
            }
            buckets.copy_from_slice(given);
            let timed: u64 = buckets.iter().fold(0u64, |sum, &n| sum.saturating_add(n));
            if timed > sample.requests {
                return Err(error(
                    format!("{path}.latency_buckets"),
                    format!("the buckets count {timed} requests, more than the sample's {}", sample.requests),
                ));
            }
        }
        if !sample.latency_sum_ms.is_finite() || sample.latency_sum_ms < 0.0 {
            return Err(error(format!("{path}.latency_sum_ms"), "must be a number of 0 or more"));
        }
        if sample.latency_buckets.is_none() && sample.latency_sum_ms > 0.0 {
            return Err(error(format!("{path}.latency_sum_ms"), "given without latency_buckets"));
        }
        let stats = CohortStats {
            requests: sample.requests,
            errors: sample.errors,
            buckets,
            latency_sum_ms: sample.latency_sum_ms,
        };
        let total = requests_per_minute
            .entry((&sample.flag, sample.environment.as_deref(), &sample.cohort, truncate_to_minute(at)))
            .or_default();
        *total = total.saturating_add(sample.requests);
        if *total > i64::MAX as u64 / 2 {
            return Err(error(format!("{path}.requests"), "too large"));
        }
        samples.push(TimedSample { flag, environment, cohort, at, stats });
    }
    let mut gauges = Vec::with_capacity(batch.gauges.len());
    for (i, gauge) in batch.gauges.iter().enumerate() {
        let path = format!("gauges[{i}]");
        if !valid_gauge_name(&gauge.name) {
            return Err(error(
                format!("{path}.name"),
                format!("{:?}: letters, digits and _ : . - up to 100, not starting with a digit", gauge.name),
            ));
        }
        let flag = match &gauge.flag {
            Some(text) => Some(FlagKey::parse(text).map_err(|e| error(format!("{path}.flag"), e.message))?),
            None => None,
        };
        let environment = environment_of(gauge.environment.as_deref(), token_environment, &path)?;
        let at = instant_of(gauge.at, now, &path)?;
        if !gauge.value.is_finite() {
            return Err(error(format!("{path}.value"), "must be a finite number"));
        }
        gauges.push(TimedGauge { flag, environment, name: gauge.name.clone(), at, value: gauge.value });
    }
    Ok(ValidBatch { batch_id: batch.batch_id.clone(), sample_count: items, samples, gauges })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-11-21T22:10:30Z".parse().unwrap()
    }

    fn sample(cohort: &str, requests: u64, errors: u64) -> MetricSample {
        MetricSample {
            flag: "new-checkout".into(),
            environment: None,
            cohort: cohort.into(),
            at: Some("2026-11-21T22:09:10Z".parse().unwrap()),
            requests,
            errors,
            latency_buckets: Some(vec![requests, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            latency_sum_ms: requests as f64 * 3.0,
        }
    }

    fn batch(samples: Vec<MetricSample>) -> MetricBatch {
        MetricBatch { batch_id: "b-1".into(), samples, gauges: vec![] }
    }

    fn production() -> EnvKey {
        EnvKey::parse("production").unwrap()
    }

    #[test]
    fn samples_fold_per_minute_and_cohort() {
        let valid = validate_batch(
            &batch(vec![sample("treatment", 10, 1), sample("treatment", 5, 0), sample("control", 7, 0)]),
            Some(&production()),
            now(),
        )
        .unwrap();
        assert_eq!(valid.sample_count, 3);
        let folded = valid.fold(&Cuts::default());
        assert_eq!(folded.minutes.len(), 2);
        let treatment = folded.minutes.iter().find(|row| row.cohort == Cohort::Treatment).unwrap();
        assert_eq!((treatment.stats.requests, treatment.stats.errors, treatment.stats.buckets[0]), (15, 1, 15));
        assert_eq!(treatment.minute, "2026-11-21T22:09:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(treatment.part_start, treatment.minute, "no rollout started within the minute");
        assert_eq!(treatment.environment, production());
    }

    /// A change that spoils a good sample, the path the refusal must name, and a part of its message.
    type SpoiledSample = (Box<dyn Fn(&mut MetricSample)>, &'static str, &'static str);

    #[test]
    fn a_rollout_start_within_a_minute_cuts_it_in_two_for_that_flag_only() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let mut before = sample("treatment", 10, 5);
        before.at = Some(at("2026-11-21T22:09:10Z"));
        let mut after = sample("treatment", 20, 1);
        after.at = Some(at("2026-11-21T22:09:40Z"));
        let mut other_flag = sample("treatment", 7, 0);
        other_flag.flag = "other".into();
        other_flag.at = Some(at("2026-11-21T22:09:40Z"));
        let valid = validate_batch(&batch(vec![before, after, other_flag]), Some(&production()), now()).unwrap();
        let mut cuts = Cuts::default();
        let start = at("2026-11-21T22:09:30.250Z");
        cuts.add(FlagKey::parse("new-checkout").unwrap(), production(), start);

        let rows = valid.fold(&cuts).minutes;

        let parts: Vec<(&str, DateTime<Utc>, u64)> =
            rows.iter().map(|r| (r.flag.as_str(), r.part_start, r.stats.requests)).collect();
        assert_eq!(
            parts,
            vec![
                ("new-checkout", at("2026-11-21T22:09:00Z"), 10),
                ("new-checkout", start, 20),
                ("other", at("2026-11-21T22:09:00Z"), 7)
            ]
        );
        assert!(rows.iter().all(|r| r.minute == at("2026-11-21T22:09:00Z")));
    }

    #[test]
    fn a_gauge_without_a_flag_is_cut_at_every_start_in_its_environment() {
        let at = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        let mut cuts = Cuts::default();
        cuts.add(FlagKey::parse("a").unwrap(), production(), at("2026-11-21T22:09:20Z"));
        cuts.add(FlagKey::parse("b").unwrap(), production(), at("2026-11-21T22:09:40Z"));
        let flag_a = FlagKey::parse("a").unwrap();

        assert_eq!(cuts.part_start(None, &production(), at("2026-11-21T22:09:50Z")), at("2026-11-21T22:09:40Z"));
        assert_eq!(
            cuts.part_start(Some(&flag_a), &production(), at("2026-11-21T22:09:50Z")),
            at("2026-11-21T22:09:20Z")
        );
        assert_eq!(cuts.part_start(None, &production(), at("2026-11-21T22:09:10Z")), at("2026-11-21T22:09:00Z"));
        assert_eq!(cuts.part_start(None, &production(), at("2026-11-21T22:10:10Z")), at("2026-11-21T22:10:00Z"));
        let staging = EnvKey::parse("staging").unwrap();
        assert_eq!(cuts.part_start(None, &staging, at("2026-11-21T22:09:50Z")), at("2026-11-21T22:09:00Z"));
    }

    #[test]
    fn a_bad_sample_is_named_by_its_path() {
        let cases: Vec<SpoiledSample> = vec![
            (Box::new(|s| s.errors = 11), "samples[1].errors", "11 errors but only 10 requests"),
            (Box::new(|s| s.cohort = "treated".into()), "samples[1].cohort", "expected treatment"),
            (Box::new(|s| s.latency_buckets = Some(vec![1, 2])), "samples[1].latency_buckets", "2 counts; expected 12"),
            (
                Box::new(|s| s.latency_buckets = Some(vec![11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])),
                "samples[1].latency_buckets",
                "more than the sample's 10",
            ),
            (Box::new(|s| s.at = Some("2026-11-20T12:00:00Z".parse().unwrap())), "samples[1].at", "24 hours old"),
            (Box::new(|s| s.at = Some("2026-11-21T23:00:00Z".parse().unwrap())), "samples[1].at", "ahead"),
            (Box::new(|s| s.environment = Some("staging".into())), "samples[1].environment", "production only"),
            (Box::new(|s| s.flag = "Not A Key".into()), "samples[1].flag", ""),
            (Box::new(|s| s.latency_sum_ms = f64::NAN), "samples[1].latency_sum_ms", "number"),
        ];
        for (spoil, path, words) in cases {
            let mut bad = sample("treatment", 10, 0);
            spoil(&mut bad);
            let err =
                validate_batch(&batch(vec![sample("control", 1, 0), bad]), Some(&production()), now()).unwrap_err();
            assert_eq!(err.path, path);
            assert!(err.message.contains(words), "{path}: {}", err.message);
        }
    }

    #[test]
    fn an_admin_token_must_name_the_environment() {
        let err = validate_batch(&batch(vec![sample("treatment", 1, 0)]), None, now()).unwrap_err();
        assert_eq!(err.path, "samples[0].environment");
        let mut named = sample("treatment", 1, 0);
        named.environment = Some("staging".into());
        let valid = validate_batch(&batch(vec![named]), None, now()).unwrap();
        assert_eq!(valid.samples[0].environment.as_str(), "staging");
    }

    #[test]
    fn batch_ids_and_gauges_are_checked() {
        let mut bad = batch(vec![]);
        bad.batch_id = "has space".into();
        assert_eq!(validate_batch(&bad, Some(&production()), now()).unwrap_err().path, "batch_id");
        let gauge = |name: &str, value: f64| GaugeSample {
            name: name.into(),
            environment: None,
            flag: None,
            at: Some("2026-11-21T22:09:10Z".parse().unwrap()),
            value,
        };
        let mut with_gauges = batch(vec![]);
        with_gauges.gauges = vec![gauge("queue_lag_seconds", 3.0), gauge("queue_lag_seconds", 5.0)];
        let valid = validate_batch(&with_gauges, Some(&production()), now()).unwrap();
        let folded = valid.fold(&Cuts::default()).gauges;
        assert_eq!(folded.len(), 1);
        assert_eq!((folded[0].count, folded[0].sum, folded[0].max), (2, 8.0, 5.0));
        with_gauges.gauges.push(gauge("1bad", 1.0));
        assert_eq!(validate_batch(&with_gauges, Some(&production()), now()).unwrap_err().path, "gauges[2].name");
    }

    #[test]
    fn the_documented_example_parses() {
        let body = r#"{"batch_id": "checkout-7f3a-000123",
            "samples": [{"flag": "new-checkout", "environment": "production", "cohort": "treatment",
                "at": "2026-11-21T22:10:00Z", "requests": 120, "errors": 1,
                "latency_buckets": [10, 30, 40, 20, 12, 5, 2, 1, 0, 0, 0, 0], "latency_sum_ms": 3120.5}],
            "gauges": [{"name": "queue_lag_seconds", "environment": "production",
                "at": "2026-11-21T22:10:00Z", "value": 3.5}]}"#;
        let batch: MetricBatch = serde_json::from_str(body).unwrap();
        assert!(validate_batch(&batch, None, now()).is_ok());
        assert!(serde_json::from_str::<MetricBatch>(r#"{"batch_id": "x", "sample": []}"#).is_err());
    }
}
