use super::*;

fn csv(text: &str) -> Result<ParsedFile, FileError> {
    parse(text.as_bytes(), "urls.csv", None)
}

#[test]
fn a_csv_with_a_bom_crlf_and_quoted_fields_is_read_with_its_line_numbers() {
    let file = csv("\u{feff}url,update_priority,page_type\r\n\"https://example.com/a,b\",HIGH,product\r\nhttps://example.com/,critical,home\r\n").unwrap();

    assert_eq!(file.format, Format::Csv);
    assert_eq!(file.rows_read, 2);
    assert_eq!(
        file.rows,
        vec![
            ValidRow { line: 2, url: "https://example.com/a,b".into(), tier: Tier::High, page_type: PageType::Product },
            ValidRow { line: 3, url: "https://example.com/".into(), tier: Tier::Critical, page_type: PageType::Home },
        ]
    );
    assert!(file.report.is_empty() && file.warnings.is_empty());
}

#[test]
fn columns_may_come_in_any_order_and_extra_ones_are_ignored_with_a_warning() {
    let file = csv("Page_Type,notes,URL,update_priority,owner\nproduct,x,https://a.example/p/1,low,me\n").unwrap();

    assert_eq!(file.rows[0].url, "https://a.example/p/1");
    assert_eq!(file.rows[0].page_type, PageType::Product);
    assert_eq!(file.warnings, vec![r#"ignored the extra columns "notes", "owner""#.to_owned()]);
}

#[test]
fn quoted_fields_may_hold_doubled_quotes_and_line_breaks() {
    let file = csv("url,update_priority,page_type,notes\nhttps://a.example/x,low,other,\"say \"\"hi\"\"\nthere\"\nhttps://a.example/y,low,other,\n").unwrap();

    assert_eq!(file.rows.len(), 2);
    assert_eq!(file.rows[1].line, 4, "the second row starts on line 4, after the two-line field");
}

#[test]
fn invalid_rows_are_rejected_with_their_line_and_reason_and_the_rest_is_kept() {
    let file = csv(concat!(
        "url,update_priority,page_type\n",
        "/relative,high,home\n",
        "https://a.example/1,urgent,home\n",
        "https://a.example/2,high,faq\n",
        "https://a.example/3,high\n",
        "ftp://a.example/4,high,home\n",
        "https://a.example/5,low,article\n",
    ))
    .unwrap();

    assert_eq!(file.rows_read, 6);
    assert_eq!(file.rows.len(), 1);
    let lines: Vec<(u32, &str)> = file.report.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(lines[0], (2, "not an absolute URL: it must start with http:// or https://"));
    assert_eq!(lines[1], (3, r#"unknown update_priority "urgent": expected one of critical, high, medium, low"#));
    assert!(lines[2].0 == 4 && lines[2].1.contains("unknown page_type \"faq\""));
    assert_eq!(lines[3], (5, "expected 3 fields as in the header, found 2"));
    assert!(lines[4].0 == 6 && lines[4].1.contains("\"ftp\""));
    assert!(file.report.iter().all(|r| r.kind == ReportKind::Rejected));
    assert_eq!(file.report[0].url, "/relative", "the report keeps the URL as written");
}

#[test]
fn duplicate_urls_after_normalization_keep_the_last_row_and_report_the_earlier_ones() {
    let file = csv(concat!(
        "url,update_priority,page_type\n",
        "https://A.example/x,low,other\n",
        "https://b.example/,high,home\n",
        "https://a.example/x#frag,medium,other\n",
        "https://a.example:443/x,critical,product\n",
    ))
    .unwrap();

    assert_eq!(file.rows_read, 4);
    let winners: Vec<(u32, Tier)> = file.rows.iter().map(|r| (r.line, r.tier)).collect();
    assert_eq!(winners, vec![(3, Tier::High), (5, Tier::Critical)], "the winner keeps its own place in file order");
    let duplicates: Vec<(u32, &str)> = file.report.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(
        duplicates,
        vec![
            (2, "line 4 has the same URL (https://a.example/x); the last one wins"),
            (4, "line 5 has the same URL (https://a.example/x); the last one wins"),
        ]
    );
    assert!(file.report.iter().all(|r| r.kind == ReportKind::Duplicate));
}

#[test]
fn blank_lines_are_skipped_and_do_not_count_as_rows() {
    let file = csv("url,update_priority,page_type\n\nhttps://a.example/,low,home\n\n").unwrap();
    assert_eq!(file.rows_read, 1);
    assert_eq!(file.rows[0].line, 3);
}

#[test]
fn files_that_break_the_rules_are_refused_as_a_whole_with_a_message_that_says_where() {
    assert_eq!(csv(""), Err(FileError::Empty));
    assert_eq!(csv("\u{feff}\n  \n"), Err(FileError::Empty));
    assert_eq!(csv("url,update_priority,page_type\n"), Err(FileError::NoRows));
    assert_eq!(
        parse(b"url,update_priority,page_type\nhttps://a.example/caf\xe9,low,home\n", "x.csv", None),
        Err(FileError::NotUtf8 { line: 2, byte: 0xE9 })
    );
    match csv("https://a.example/,low,home\n") {
        Err(FileError::MissingHeader { missing, .. }) => assert_eq!(missing, ["url", "update_priority", "page_type"]),
        other => panic!("{other:?}"),
    }
    match csv("url,priority,page_type\nhttps://a.example/,low,home\n") {
        Err(err @ FileError::MissingHeader { .. }) => {
            let text = err.to_string();
            assert!(text.contains("update_priority missing") && text.contains("url,priority,page_type"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(csv("url,url,update_priority,page_type\n"), Err(FileError::DuplicateColumn { column: "url".into() }));
}

#[test]
fn broken_quoting_is_refused_with_the_line() {
    let header = "url,update_priority,page_type\n";
    let unclosed =
        format!("{header}https://a.example/,low,home\n\"https://a.example/x,low,home\nhttps://a.example/y,low,home\n");
    let stray = format!("{header}https://a.example/x\"y,low,home\n");
    let after_close = format!("{header}\"https://a.example/x\"y,low,home\n");

    assert_eq!(csv(&unclosed), Err(FileError::BrokenQuoting { line: 3, detail: "a quoted field is never closed" }));
    assert!(matches!(csv(&stray), Err(FileError::BrokenQuoting { line: 2, .. })));
    assert!(matches!(csv(&after_close), Err(FileError::BrokenQuoting { line: 2, .. })));
}

#[test]
fn json_lines_are_read_with_their_line_numbers_and_bad_lines_rejected() {
    let text = concat!(
        "{\"url\":\"https://a.example/p/1\",\"update_priority\":\"high\",\"page_type\":\"product\",\"extra\":1}\n",
        "\n",
        "{\"url\":\"https://a.example/2\",\"update_priority\":\"high\"}\n",
        "not json\n",
        "[1,2]\r\n",
        "{\"url\":3,\"update_priority\":\"high\",\"page_type\":\"home\"}\n",
    );
    let file = parse(text.as_bytes(), "urls.jsonl", None).unwrap();

    assert_eq!(file.format, Format::JsonLines);
    assert_eq!(file.rows_read, 5);
    assert_eq!(file.rows.len(), 1);
    assert_eq!(file.rows[0].line, 1);
    let reasons: Vec<(u32, &str)> = file.report.iter().map(|r| (r.line, r.reason.as_str())).collect();
    assert_eq!(reasons[0], (3, "\"page_type\" is missing"));
    assert!(reasons[1].0 == 4 && reasons[1].1.starts_with("not valid JSON"));
    assert_eq!(reasons[2], (5, "not a JSON object"));
    assert_eq!(reasons[3], (6, "\"url\" must be a string"));
    assert_eq!(file.warnings, vec![r#"ignored the extra properties "extra""#.to_owned()]);
}

#[test]
fn the_format_comes_from_the_name_then_from_the_content() {
    assert_eq!(Format::detect("a.CSV", "{"), Format::Csv);
    assert_eq!(Format::detect("a.ndjson", "url"), Format::JsonLines);
    assert_eq!(Format::detect("upload", "  {\"url\":1}"), Format::JsonLines);
    assert_eq!(Format::detect("upload", "url,update_priority"), Format::Csv);
    assert_eq!(Format::parse("JSONL"), Some(Format::JsonLines));
    assert_eq!(Format::parse("xml"), None);
}
