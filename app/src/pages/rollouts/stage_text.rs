//! Custom stages as text, one stage per line, so a plan can be typed or edited in one box, with or without
//! JavaScript: `name | percent | sign-off roles | soak`, e.g.
//!
//! ```text
//! canary   | 5%   | ops_oncall               | 30m
//! half     | 50%  | ops_oncall product_owner | 1h
//! full     | 100% |                          |
//! ```
//!
//! Roles are separated by spaces or commas; the soak is `0`, `45s`, `30m`, `2h`, `1d` or combinations such
//! as `1h30m`; empty trailing columns may be left out. Blank lines and lines starting with `#` are ignored.
//! The checklist of each stage is kept by the edit when the stage keeps its name (see [`parse_stage_lines`]).

use crate::domain::rollout::{ChecklistItem, StagePlan};
use crate::domain::{Percent, SignoffRole};
use crate::model::StageView;

/// Parses the text into stages; the error names the line and what is wrong with it. `previous` gives the
/// checklists to keep: a line whose stage name matches one of them keeps that stage's checklist.
pub fn parse_stage_lines(text: &str, previous: &[StageView]) -> Result<Vec<StagePlan>, String> {
    let mut stages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let columns: Vec<&str> = line.split('|').map(str::trim).collect();
        if columns.len() < 2 || columns.len() > 4 {
            return Err(format!(
                "line {number}: write `name | percent | roles | soak` (found {} column{})",
                columns.len(),
                if columns.len() == 1 { "" } else { "s" }
            ));
        }
        let name = columns[0];
        if name.is_empty() {
            return Err(format!("line {number}: the stage has no name"));
        }
        let percent = Percent::parse(columns[1]).map_err(|e| format!("line {number}: {}", e.message))?;
        let required_roles = columns
            .get(2)
            .map(|roles| {
                roles
                    .split([' ', ','])
                    .filter(|r| !r.is_empty())
                    .map(|r| r.parse::<SignoffRole>().map_err(|e| format!("line {number}: {}", e.message)))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let min_soak_seconds =
            columns.get(3).map(|s| parse_soak(s).map_err(|e| format!("line {number}: {e}"))).transpose()?.unwrap_or(0);
        let checklist = previous
            .iter()
            .find(|s| s.name == name)
            .map(|s| {
                s.checklist
                    .iter()
                    .map(|(kind, text)| match kind.as_str() {
                        "backout" => ChecklistItem::backout(text.clone()),
                        _ => ChecklistItem::verify(text.clone()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        stages.push(StagePlan { name: name.to_owned(), percent, required_roles, min_soak_seconds, checklist });
    }
    if stages.is_empty() {
        return Err("write at least one stage, one per line: `name | percent | roles | soak`".to_owned());
    }
    Ok(stages)
}

/// `30m`, `1h30m`, `1d`, `45s`, `0` or blank, in seconds (read by [`crate::domain::duration`]).
pub fn parse_soak(text: &str) -> Result<u32, String> {
    if text.trim().is_empty() {
        return Ok(0);
    }
    crate::domain::duration::parse_seconds("soak", text)
}

/// The inverse of [`parse_soak`]: `1h30m`, `1d`, `0`.
pub fn format_soak(seconds: u32) -> String {
    if seconds == 0 {
        return "0".to_owned();
    }
    let mut left = seconds;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if left >= size {
            out.push_str(&format!("{}{unit}", left / size));
            left %= size;
        }
    }
    out
}

/// The stages as editable text.
pub fn format_stage_lines(stages: &[StageView]) -> String {
    stages
        .iter()
        .map(|s| {
            format!("{} | {} | {} | {}", s.name, s.percent, s.required_roles.join(" "), format_soak(s.min_soak_seconds))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, percent: &str, roles: &[&str], soak: u32, checklist: &[(&str, &str)]) -> StageView {
        StageView {
            position: 0,
            name: name.into(),
            percent: percent.into(),
            basis_points: 0,
            required_roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            min_soak_seconds: soak,
            checklist: checklist.iter().map(|(k, t)| ((*k).to_owned(), (*t).to_owned())).collect(),
        }
    }

    #[test]
    fn lines_become_stages_with_roles_and_soaks() {
        let stages = parse_stage_lines(
            "# a comment\ncanary | 5% | ops_oncall | 30m\n\nhalf | 50 | ops_oncall, product_owner | 1h30m\nfull | 100%",
            &[],
        )
        .unwrap();
        assert_eq!(stages.len(), 3);
        assert_eq!(
            (stages[0].name.as_str(), stages[0].percent.basis_points(), stages[0].min_soak_seconds),
            ("canary", 500, 1800)
        );
        assert_eq!(stages[1].required_roles, vec![SignoffRole::OpsOncall, SignoffRole::ProductOwner]);
        assert_eq!(stages[1].min_soak_seconds, 5400);
        assert!(stages[2].required_roles.is_empty());
    }

    #[test]
    fn mistakes_are_reported_with_their_line() {
        assert_eq!(
            parse_stage_lines("a | 5%\nb", &[]).unwrap_err(),
            "line 2: write `name | percent | roles | soak` (found 1 column)"
        );
        assert!(parse_stage_lines("a | lots", &[]).unwrap_err().starts_with("line 1: "));
        assert!(parse_stage_lines("a | 5% | chef", &[]).unwrap_err().starts_with("line 1: "));
        assert_eq!(
            parse_stage_lines("a | 5% | | 30x", &[]).unwrap_err(),
            "line 1: soak \"30x\": use a number with a unit (ms, s, m, h, d, w), e.g. 90s, 30m, 24h, 7d or 1h30m"
        );
        assert!(parse_stage_lines("\n# nothing\n", &[]).is_err());
    }

    #[test]
    fn a_stage_that_keeps_its_name_keeps_its_checklist() {
        let before = [view("canary", "5%", &[], 0, &[("verify", "errors flat"), ("backout", "rollgate rollback ...")])];
        let stages = parse_stage_lines("canary | 10% | | 1h\nnew | 100%", &before).unwrap();
        assert_eq!(
            stages[0].checklist,
            vec![ChecklistItem::verify("errors flat"), ChecklistItem::backout("rollgate rollback ...")]
        );
        assert!(stages[1].checklist.is_empty());
    }

    #[test]
    fn formatting_then_parsing_gives_the_same_plan() {
        let views =
            [view("pilot", "5%", &["dev_lead"], 86_400, &[]), view("full", "100%", &["dev_lead", "qa"], 0, &[])];
        let stages = parse_stage_lines(&format_stage_lines(&views), &[]).unwrap();
        assert_eq!(stages[0].min_soak_seconds, 86_400);
        assert_eq!(stages[1].required_roles, vec![SignoffRole::DevLead, SignoffRole::Qa]);
        assert_eq!(format_soak(5400), "1h30m");
        assert_eq!(parse_soak("1h30m"), Ok(5400));
    }
}
