//! CSV in and out. Reading an uploaded file the same way for every import (priority URLs, customers):
//! UTF-8 with an optional BOM, RFC 4180 quoting checked strictly, a header row that names the required
//! columns (in any order and case; other columns are ignored), and line numbers as an editor shows them.
//! Writing every file the product writes (the audit export, an import's report) through [`CsvFile`],
//! whose every cell goes through [`neutralise`], so a file opened in a spreadsheet never runs text that
//! someone typed or imported as a formula (`=HYPERLINK(...)`, `@SUM(...)`, `+cmd|...`): OWASP's advice
//! for CSV injection.

use super::ServiceError;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// A file refused as a whole. Nothing is imported from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file has a header row but no data rows")]
    NoRows,
    #[error("the file is not UTF-8: line {line} has the byte 0x{byte:02X}, which is not valid UTF-8; save the file as UTF-8 and upload it again")]
    NotUtf8 { line: usize, byte: u8 },
    #[error("the header row must name the columns {}; {} missing (the first line is: {found})", in_words(required), missing.join(", "))]
    MissingHeader { required: &'static [&'static str], missing: Vec<String>, found: String },
    #[error("the header row names the column {column:?} twice")]
    DuplicateColumn { column: String },
    #[error("broken quoting on line {line}: {detail}")]
    BrokenQuoting { line: usize, detail: &'static str },
    #[error("the file is {size} bytes; the limit is {limit} bytes ({} MiB)", limit / (1024 * 1024))]
    TooLarge { size: usize, limit: usize },
}

/// `a, b and c`.
fn in_words(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The file's text: UTF-8 (the error names the line of the first bad byte), without a BOM, not blank.
pub fn decode(bytes: &[u8]) -> Result<&str, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        FileError::NotUtf8 { line: bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1, byte: bytes[at] }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    Ok(text)
}

/// At most `max` bytes of `text`, cut at a character boundary.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// One data row: the values of the required columns in the order asked for, or why the row cannot be read
/// (with the raw value of the first required column, for the report).
pub type Record<'a> = Result<&'a [&'a str], (&'a str, String)>;

/// Reads the header and every data row of a CSV text, handing each row to `on_row` with its line number.
/// Returns the names of the columns that were not asked for (to warn that they were ignored).
pub fn read(
    text: &str,
    required: &'static [&'static str],
    on_row: &mut dyn FnMut(u32, Record<'_>),
) -> Result<BTreeSet<String>, FileError> {
    check_quoting(text)?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(header)) => header,
        Some(Err(_)) | None => return Err(FileError::Empty),
    };
    let names: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let mut seen = BTreeSet::new();
    for name in &names {
        if !name.is_empty() && !seen.insert(name.as_str()) {
            return Err(FileError::DuplicateColumn { column: name.clone() });
        }
    }
    let position = |wanted: &str| names.iter().position(|n| n == wanted);
    let missing: Vec<String> = required.iter().filter(|c| position(c).is_none()).map(|c| (*c).to_owned()).collect();
    if !missing.is_empty() {
        let first_line = text.lines().next().unwrap_or("");
        return Err(FileError::MissingHeader { required, missing, found: clip(first_line, 200) });
    }
    let at: Vec<usize> = required.iter().map(|c| position(c).unwrap_or(0)).collect();
    let ignored = names.iter().filter(|n| !n.is_empty() && !required.contains(&n.as_str())).cloned().collect();
    let mut lines = LineCounter { text: text.as_bytes(), offset: 0, line: 1 };
    for record in records {
        // check_quoting has already refused what the reader could stumble on; any other error is a row's.
        let record = match record {
            Ok(record) => record,
            Err(err) => {
                let line = err.position().map_or(1, |p| lines.line_at(p.byte()));
                on_row(line, Err(("", format!("unreadable row: {err}"))));
                continue;
            }
        };
        let line = record.position().map_or(1, |p| lines.line_at(p.byte()));
        if record.len() != names.len() {
            let raw = record.get(at[0]).unwrap_or("");
            on_row(
                line,
                Err((raw, format!("expected {} fields as in the header, found {}", names.len(), record.len()))),
            );
            continue;
        }
        let values: Vec<&str> = at.iter().map(|&i| record.get(i).unwrap_or("")).collect();
        on_row(line, Ok(&values));
    }
    Ok(ignored)
}

/// Line numbers from byte offsets, counted incrementally (the `csv` crate's own line count goes astray
/// on CRLF line ends and blank lines). Offsets must come in increasing order.
struct LineCounter<'a> {
    text: &'a [u8],
    offset: usize,
    line: u32,
}

impl LineCounter<'_> {
    fn line_at(&mut self, byte: u64) -> u32 {
        let mut target = usize::try_from(byte).unwrap_or(usize::MAX).min(self.text.len()).max(self.offset);
        // A record's position can be the line end before it, or a blank line the reader skipped.
        while matches!(self.text.get(target), Some(b'\r' | b'\n')) {
            target += 1;
        }
        let newlines = self.text[self.offset..target].iter().filter(|&&b| b == b'\n').count();
        self.line = self.line.saturating_add(u32::try_from(newlines).unwrap_or(u32::MAX));
        self.offset = target;
        self.line
    }
}

/// Refuses what RFC 4180 does not allow and the `csv` crate would quietly accept: a quote inside an
/// unquoted field, text after a closing quote, and a quoted field never closed.
fn check_quoting(text: &str) -> Result<(), FileError> {
    let bytes = text.as_bytes();
    let (mut line, mut opened_on) = (1usize, 0usize);
    let (mut in_quotes, mut field_start) = (false, true);
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if in_quotes {
            match byte {
                b'"' if bytes.get(i + 1) == Some(&b'"') => i += 1,
                b'"' => {
                    in_quotes = false;
                    field_start = false;
                    if !matches!(bytes.get(i + 1), None | Some(b',' | b'\r' | b'\n')) {
                        return Err(FileError::BrokenQuoting {
                            line,
                            detail: "a closing quote must be followed by a comma or the end of the line",
                        });
                    }
                }
                b'\n' => line += 1,
                _ => {}
            }
        } else {
            match byte {
                b'"' if field_start => {
                    in_quotes = true;
                    opened_on = line;
                }
                b'"' => {
                    return Err(FileError::BrokenQuoting {
                        line,
                        detail: "a quote inside an unquoted field; quote the whole field and double the quote (\"\")",
                    })
                }
                b',' | b'\r' => field_start = true,
                b'\n' => {
                    line += 1;
                    field_start = true;
                }
                _ => field_start = false,
            }
        }
        i += 1;
    }
    if in_quotes {
        return Err(FileError::BrokenQuoting { line: opened_on, detail: "a quoted field is never closed" });
    }
    Ok(())
}

/// Writes an import's report: `line,kind,<subject>,reason`, one row per line that was not applied.
pub fn write_report<'a>(
    subject: &str,
    rows: impl Iterator<Item = (i32, &'a str, &'a str, &'a str)>,
) -> Result<Vec<u8>, ServiceError> {
    let mut file = CsvFile::new("the import report", &["line", "kind", subject, "reason"])?;
    for (line, kind, value, reason) in rows {
        file.row([line.to_string().as_str(), kind, value, reason])?;
    }
    file.finish()
}

/// A CSV document being written, header first.
pub struct CsvFile {
    writer: csv::Writer<Vec<u8>>,
    what: &'static str,
}

impl CsvFile {
    /// A file with this header row; `what` names it in errors ("the audit CSV").
    pub fn new(what: &'static str, header: &[&str]) -> Result<Self, ServiceError> {
        let mut file = Self { writer: csv::Writer::from_writer(Vec::new()), what };
        file.row(header.iter().copied())?;
        Ok(file)
    }

    /// Appends one row, each cell neutralised.
    pub fn row<I, S>(&mut self, cells: I) -> Result<(), ServiceError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let neutral: Vec<String> = cells.into_iter().map(|c| neutralise(c.as_ref()).into_owned()).collect();
        self.writer.write_record(&neutral).map_err(|e| self.error(e))
    }

    /// The bytes written.
    pub fn finish(self) -> Result<Vec<u8>, ServiceError> {
        let what = self.what;
        self.writer.into_inner().map_err(|e| ServiceError::internal(format!("writing {what}"), e.into_error()))
    }

    fn error(&self, err: csv::Error) -> ServiceError {
        ServiceError::internal(format!("writing {}", self.what), err)
    }
}

/// A cell a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or a carriage
/// return) gets a leading apostrophe, which spreadsheets show as text. A plain number such as `-5` is left
/// as it is: it is a value, not a formula.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let risky = cell.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && cell.parse::<f64>().map_or(true, |n| !n.is_finite()) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &[&str] = &["key", "name"];

    /// A row read back: its line, and its values or why it could not be read.
    type Read = (u32, Result<Vec<String>, String>);

    fn rows(text: &str) -> Result<Vec<Read>, FileError> {
        let mut out = Vec::new();
        read(text, COLUMNS, &mut |line, row| {
            out.push((line, row.map(|v| v.iter().map(|s| (*s).to_owned()).collect()).map_err(|(_, why)| why)))
        })?;
        Ok(out)
    }

    #[test]
    fn columns_come_in_the_order_asked_for_whatever_the_file_order() {
        let read = rows("Name,extra,KEY\r\nAcme,x,acme\r\n\r\nGlobex,y,globex\r\n").unwrap();
        assert_eq!(read[0], (2, Ok(vec!["acme".to_owned(), "Acme".to_owned()])));
        assert_eq!(read[1], (4, Ok(vec!["globex".to_owned(), "Globex".to_owned()])), "a blank line still counts");
    }

    #[test]
    fn a_row_with_the_wrong_number_of_fields_is_reported_on_its_line() {
        let read = rows("key,name\na,b,c\n").unwrap();
        assert_eq!(read, [(2, Err("expected 2 fields as in the header, found 3".to_owned()))]);
    }

    #[test]
    fn a_missing_column_is_named_with_the_columns_required() {
        let err = rows("key,label\nacme,Acme\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the header row must name the columns key and name; name missing (the first line is: key,label)"
        );
    }

    #[test]
    fn a_file_is_decoded_without_its_bom_and_refused_when_blank_or_not_utf8() {
        assert_eq!(decode("\u{feff}key\n".as_bytes()), Ok("key\n"));
        assert_eq!(decode(b" \n"), Err(FileError::Empty));
        assert_eq!(decode(b"key\nca\xe9\n"), Err(FileError::NotUtf8 { line: 2, byte: 0xE9 }));
    }

    #[test]
    fn a_report_is_written_as_csv_with_its_subject_column() {
        let csv = write_report("key", [(3, "rejected", "bad key", "no, really")].into_iter()).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "line,kind,key,reason\n3,rejected,bad key,\"no, really\"\n");
    }

    #[test]
    fn a_report_neutralises_a_formula_it_quotes_from_the_file() {
        let csv = write_report("key", [(2, "rejected", "=HYPERLINK(\"x\")", "bad key")].into_iter()).unwrap();
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "line,kind,key,reason\n2,rejected,\"'=HYPERLINK(\"\"x\"\")\",bad key\n"
        );
    }

    #[test]
    fn formula_prefixes_are_neutralised_and_other_text_is_left_alone() {
        for risky in ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx", "-inf"] {
            assert_eq!(neutralise(risky), format!("'{risky}"), "{risky:?}");
        }
        for plain in ["https://example.com/a", "flag.toggled", "-5", "-1.25", "42", "", "a=b", "'=already"] {
            assert_eq!(neutralise(plain), plain, "{plain:?}");
        }
    }

    #[test]
    fn every_cell_of_every_row_goes_through_it() {
        let mut file = CsvFile::new("a test file", &["url", "reason"]).unwrap();
        file.row(["=HYPERLINK(\"http://evil.example\",\"x\")", "@reason"]).unwrap();
        let text = String::from_utf8(file.finish().unwrap()).unwrap();
        assert_eq!(text, "url,reason\n\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\",'@reason\n");
    }
}
