//! Reading an import file: CSV (RFC 4180, UTF-8, optional BOM, a header row) or JSON Lines, every row
//! validated, duplicates resolved (the last one wins). Pure: no database, so it is tested on its own.

use super::normalize::normalize_url;
use crate::domain::priority::{PageType, Tier};
pub use crate::server::csv_file::FileError;
use crate::server::csv_file::{self, clip};
use std::collections::{BTreeSet, HashMap};

/// The columns (CSV) or properties (JSON Lines) every row must have.
pub const REQUIRED: [&str; 3] = ["url", "update_priority", "page_type"];
/// The longest raw value kept in the report (the table's limit).
const MAX_REPORT_URL: usize = 4096;

/// The file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }

    /// `csv`, or `jsonl`/`ndjson`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "jsonlines" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// From the file name's extension, else from the content: a first character `{` means JSON Lines.
    pub fn detect(file_name: &str, text: &str) -> Self {
        let lower = file_name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Format::Csv
        } else if lower.ends_with(".jsonl")
            || lower.ends_with(".ndjson")
            || lower.ends_with(".json")
            || text.trim_start().starts_with('{')
        {
            Format::JsonLines
        } else {
            Format::Csv
        }
    }
}

/// A valid row, its URL normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    /// The file line the row starts on (1 is the first line, the CSV header).
    pub line: u32,
    pub url: String,
    pub tier: Tier,
    pub page_type: PageType,
}

/// Why a row was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    Rejected,
    Duplicate,
    Overflow,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Rejected => "rejected",
            ReportKind::Duplicate => "duplicate",
            ReportKind::Overflow => "overflow",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub line: u32,
    pub kind: ReportKind,
    /// The URL as written in the file (it may not be a URL at all).
    pub url: String,
    pub reason: String,
}

/// A file read and checked, before the database decides what is new, changed or over the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFile {
    pub format: Format,
    /// Data rows read (every one ends as exactly one applied, rejected, duplicate or overflow row).
    pub rows_read: u32,
    /// The winning row for each URL, in file order.
    pub rows: Vec<ValidRow>,
    /// Rejected and duplicate rows, in line order.
    pub report: Vec<ReportRow>,
    pub warnings: Vec<String>,
}

/// Reads and validates a whole file.
pub fn parse(bytes: &[u8], file_name: &str, format: Option<Format>) -> Result<ParsedFile, FileError> {
    parse_with(bytes, file_name, format, &mut |_| {})
}

/// Reads and validates a whole file like [`parse`], and hands every valid row to `on_row` as soon as it
/// is checked, in file order, so that a caller can load rows while the rest of the file is read. A row
/// handed over can still lose to a later row with the same URL: it is then among the report's
/// duplicates, and not among the result's rows. A file refused as a whole hands over no row: the checks
/// of the whole file and of its header come before the rows.
pub fn parse_with(
    bytes: &[u8],
    file_name: &str,
    format: Option<Format>,
    on_row: &mut dyn FnMut(&ValidRow),
) -> Result<ParsedFile, FileError> {
    let text = csv_file::decode(bytes)?;
    let format = format.unwrap_or_else(|| Format::detect(file_name, text));
    let mut collector = Collector { on_row: Some(on_row), ..Collector::default() };
    match format {
        Format::Csv => read_csv(text, &mut collector)?,
        Format::JsonLines => read_json_lines(text, &mut collector),
    }
    if collector.rows_read == 0 {
        return Err(match format {
            Format::Csv => FileError::NoRows,
            Format::JsonLines => FileError::Empty,
        });
    }
    Ok(collector.finish(format))
}

/// Gathers rows, resolving duplicates as they come.
#[derive(Default)]
struct Collector<'a> {
    rows_read: u32,
    rows: Vec<Option<ValidRow>>,
    by_url: HashMap<String, usize>,
    report: Vec<ReportRow>,
    ignored: BTreeSet<String>,
    on_row: Option<&'a mut dyn FnMut(&ValidRow)>,
}

impl Collector<'_> {
    fn row(&mut self, line: u32, url: &str, tier: &str, page_type: &str) {
        self.rows_read += 1;
        match validate(line, url, tier, page_type) {
            Ok(row) => {
                if let Some(on_row) = self.on_row.as_mut() {
                    on_row(&row);
                }
                let index = self.rows.len();
                if let Some(previous) = self.by_url.insert(row.url.clone(), index) {
                    if let Some(earlier) = self.rows[previous].take() {
                        self.report.push(ReportRow {
                            line: earlier.line,
                            kind: ReportKind::Duplicate,
                            url: earlier.url,
                            reason: format!(
                                "line {line} has the same URL ({}); the last one wins",
                                clip(&row.url, 300)
                            ),
                        });
                    }
                }
                self.rows.push(Some(row));
            }
            Err(reason) => self.reject(line, url, reason),
        }
    }

    fn reject(&mut self, line: u32, raw: &str, reason: String) {
        self.report.push(ReportRow {
            line,
            kind: ReportKind::Rejected,
            url: clip(raw, MAX_REPORT_URL),
            reason: clip(&reason, 500),
        });
    }

    fn finish(mut self, format: Format) -> ParsedFile {
        self.report.sort_by_key(|r| r.line);
        let warnings = if self.ignored.is_empty() {
            Vec::new()
        } else {
            let what = if format == Format::Csv { "columns" } else { "properties" };
            let names: Vec<String> = self.ignored.into_iter().map(|c| format!("{c:?}")).collect();
            vec![format!("ignored the extra {what} {}", names.join(", "))]
        };
        ParsedFile {
            format,
            rows_read: self.rows_read,
            rows: self.rows.into_iter().flatten().collect(),
            report: self.report,
            warnings,
        }
    }
}

fn validate(line: u32, url: &str, tier: &str, page_type: &str) -> Result<ValidRow, String> {
    let url = normalize_url(url)?;
    let tier = Tier::parse_loose(tier).map_err(|e| e.message)?;
    let page_type = PageType::parse_loose(page_type).map_err(|e| e.message)?;
    Ok(ValidRow { line, url, tier, page_type })
}

fn read_csv(text: &str, out: &mut Collector<'_>) -> Result<(), FileError> {
    let ignored = csv_file::read(text, &REQUIRED, &mut |line, row| match row {
        Ok([url, tier, page_type]) => out.row(line, url, tier, page_type),
        Ok(_) => {}
        Err((raw, reason)) => {
            out.rows_read += 1;
            out.reject(line, raw, reason);
        }
    })?;
    out.ignored.extend(ignored);
    Ok(())
}

fn read_json_lines(text: &str, out: &mut Collector<'_>) {
    for (index, raw_line) in text.split('\n').enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let raw_line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if raw_line.trim().is_empty() {
            continue;
        }
        let object = match serde_json::from_str::<serde_json::Value>(raw_line) {
            Ok(serde_json::Value::Object(object)) => object,
            Ok(_) => {
                out.rows_read += 1;
                out.reject(line, raw_line, "not a JSON object".into());
                continue;
            }
            Err(err) => {
                out.rows_read += 1;
                out.reject(line, raw_line, format!("not valid JSON: {err}"));
                continue;
            }
        };
        out.ignored.extend(object.keys().filter(|k| !REQUIRED.contains(&k.as_str())).cloned());
        let text_of = |name: &str| match object.get(name) {
            Some(serde_json::Value::String(s)) => Ok(s.as_str()),
            Some(_) => Err(format!("{name:?} must be a string")),
            None => Err(format!("{name:?} is missing")),
        };
        match (text_of("url"), text_of("update_priority"), text_of("page_type")) {
            (Ok(url), Ok(tier), Ok(page_type)) => out.row(line, url, tier, page_type),
            (url, tier, page_type) => {
                out.rows_read += 1;
                let reason = [&url, &tier, &page_type].into_iter().find_map(|r| r.as_ref().err()).cloned();
                out.reject(line, url.unwrap_or(raw_line), reason.unwrap_or_default());
            }
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
