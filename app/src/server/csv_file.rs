//! The one way the product writes CSV (the audit export, an import's report): every cell goes through
//! [`neutralise`], so a file opened in a spreadsheet never runs text that someone typed or imported as a
//! formula (`=HYPERLINK(...)`, `@SUM(...)`, `+cmd|...`). OWASP's advice for CSV injection.

use super::ServiceError;
use std::borrow::Cow;

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
        self.writer.into_inner().map_err(|e| ServiceError::Other(format!("writing {what}: {e}")))
    }

    fn error(&self, err: csv::Error) -> ServiceError {
        ServiceError::Other(format!("writing {}: {err}", self.what))
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
