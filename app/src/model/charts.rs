//! What the rollout charts are drawn over: shared by the page's range selector and the chart service.

use serde::{Deserialize, Serialize};

/// How far back the charts look. Each range has a bucket width that keeps it at 60 to 336 points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum ChartRange {
    #[default]
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "6h")]
    SixHours,
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
}

impl ChartRange {
    pub const ALL: [ChartRange; 4] = [ChartRange::Hour, ChartRange::SixHours, ChartRange::Day, ChartRange::Week];

    /// The range of a `?range=` value: `1h`, `6h`, `24h` or `7d`.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// The `?range=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartRange::Hour => "1h",
            ChartRange::SixHours => "6h",
            ChartRange::Day => "24h",
            ChartRange::Week => "7d",
        }
    }

    /// As the selector shows it.
    pub fn label(self) -> &'static str {
        match self {
            ChartRange::Hour => "1 h",
            ChartRange::SixHours => "6 h",
            ChartRange::Day => "24 h",
            ChartRange::Week => "7 d",
        }
    }

    pub fn seconds(self) -> i64 {
        match self {
            ChartRange::Hour => 3600,
            ChartRange::SixHours => 6 * 3600,
            ChartRange::Day => 24 * 3600,
            ChartRange::Week => 7 * 24 * 3600,
        }
    }

    /// The width of one plotted bucket: 60, 180, 288 and 336 points per cohort.
    pub fn bucket_seconds(self) -> i64 {
        match self {
            ChartRange::Hour => 60,
            ChartRange::SixHours => 120,
            ChartRange::Day => 300,
            ChartRange::Week => 1800,
        }
    }
}
