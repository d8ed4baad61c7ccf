//! CSV reading and writing for label import and export, on the `csv` crate
//! (RFC 4180 quoting, any line ending, a UTF-8 byte-order mark as Excel
//! writes it), plus the one rule for spreadsheet formulas: a text cell that
//! a spreadsheet would evaluate (`=`, `+`, `-`, `@`, tab, CR first) is
//! written with a leading `'` (OWASP's advice for CSV injection) and read
//! back without it, so an export re-imports exactly as it was.

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether a spreadsheet would evaluate `cell`: it starts with a formula
/// character and is not a plain number (negative lab values stay as they
/// are), or it is such a cell already neutralised once (so the rule can be
/// undone exactly).
fn spreadsheet_would_evaluate(cell: &str) -> bool {
    match cell.chars().next() {
        Some('\'') => spreadsheet_would_evaluate(&cell[1..]),
        Some(c) if FORMULA_STARTS.contains(&c) => cell.trim().parse::<f64>().is_err(),
        _ => false,
    }
}

/// A cell as written: formulas neutralised with a leading `'`.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if spreadsheet_would_evaluate(cell) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A cell as read: the `'` that [`neutralise`] added taken off again.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if spreadsheet_would_evaluate(rest) => rest,
        _ => cell,
    }
}

/// One parsed row and its number (1-based): the row a spreadsheet shows,
/// which is the file's line when no cell holds a line break.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub line: usize,
    pub cells: Vec<String>,
}

/// Parses CSV text into rows (blank lines skipped, cells restored).
pub fn parse_rows(text: &str) -> Result<Vec<Row>, String> {
    // The reader drops the byte-order mark Excel writes at the start.
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 1;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let cells: Vec<String> = record.iter().map(|c| restore(c).to_string()).collect();
        // A line holding only separators carries nothing.
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows.push(Row { line, cells });
    }
    // The reader takes an unclosed quote to run to the end of the file,
    // swallowing every row after it; in valid CSV quotes come in pairs.
    if text.chars().filter(|&c| c == '"').count() % 2 == 1 {
        return Err(format!(
            "line {}: a quoted field is never closed (an odd number of '\"' characters)",
            rows.last().map_or(1, |r| r.line)
        ));
    }
    Ok(rows)
}

/// Parses CSV text into rows of cells.
pub fn parse(text: &str) -> Result<Vec<Vec<String>>, String> {
    Ok(parse_rows(text)?.into_iter().map(|r| r.cells).collect())
}

/// One CSV line (with trailing newline): fields quoted where they need it,
/// formulas neutralised.
pub fn line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let record: Vec<std::borrow::Cow<'_, str>> =
        fields.iter().map(|f| neutralise(f.as_ref())).collect();
    // Writing into memory cannot fail, and the cells are valid UTF-8 in,
    // valid UTF-8 out.
    if writer
        .write_record(record.iter().map(|c| c.as_bytes()))
        .is_err()
    {
        return String::from("\n");
    }
    match writer.into_inner() {
        Ok(bytes) => String::from_utf8(bytes).unwrap_or_default(),
        Err(_) => String::from("\n"),
    }
}

/// The largest CSV Loupe reads: a labels or exams table of a million
/// rows fits many times over; a file beyond it is not a table a person
/// wrote, and reading it whole would exhaust memory.
pub const MAX_CSV_BYTES: u64 = 256 << 20;

/// A CSV file's text: a regular file of at most [`MAX_CSV_BYTES`],
/// refused (naming the file and the first bad byte) unless it is UTF-8 —
/// what Excel writes as "CSV UTF-8" ([`crate::user_file::read_text`]).
pub fn read_text(path: &std::path::Path) -> Result<String, super::StoreError> {
    use crate::user_file::UserFileError;
    crate::user_file::read_text(path, MAX_CSV_BYTES, "CSV").map_err(|e| match e {
        UserFileError::Io { path, source } => super::StoreError::Io { path, source },
        other => super::StoreError::Invalid(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_awkward_fields() {
        let fields = ["a,b", "say \"hi\"", "two\nlines", "plain", ""];
        let text = line(&fields) + &line(&["x", "y", "z", "w", "v"]);
        let rows = parse(&text).unwrap();
        assert_eq!(rows[0], fields);
        assert_eq!(rows.len(), 2);
        assert!(
            parse("a,b\n\"open,c\nd,e\n")
                .unwrap_err()
                .contains("line 2")
        );
    }

    #[test]
    fn excel_byte_order_mark_and_every_line_ending() {
        let rows =
            parse_rows("\u{feff}path,stage\r\na.png,Normal\rb.png,Stage 1\nc.png,Stage 2").unwrap();
        let cells: Vec<&str> = rows.iter().map(|r| r.cells[0].as_str()).collect();
        assert_eq!(
            cells,
            ["path", "a.png", "b.png", "c.png"],
            "BOM gone, lone CR ends a row"
        );
        assert_eq!(
            rows.iter().map(|r| r.line).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn formulas_are_neutralised_and_restored_exactly() {
        let cells = [
            "=HYPERLINK(\"x\")",
            "+1+2",
            "@SUM(A1)",
            "-cmd",
            "\tx",
            "'=x",
            "''=y",
            "-3.5",
            "+7",
            "ok",
            "'plain",
        ];
        let written = line(&cells);
        let raw = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(written.as_bytes())
            .records()
            .next()
            .unwrap()
            .unwrap();
        let raw: Vec<&str> = raw.iter().collect();
        assert_eq!(
            raw,
            [
                "'=HYPERLINK(\"x\")",
                "'+1+2",
                "'@SUM(A1)",
                "'-cmd",
                "'\tx",
                "''=x",
                "'''=y",
                "-3.5",
                "+7",
                "ok",
                "'plain"
            ],
            "no cell a spreadsheet would evaluate; numbers untouched"
        );
        assert_eq!(parse(&written).unwrap()[0], cells, "read back exactly");
    }
}
