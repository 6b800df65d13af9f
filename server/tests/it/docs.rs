//! The guides say only what the code does: every `rollgate` command they show exists with the options they
//! give it, every environment variable they name is read, and every endpoint they name is in the OpenAPI
//! document the server serves.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use clap::CommandFactory;
use sqlx::PgPool;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// README.md and every guide in docs/, with their paths for messages.
fn documents() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths = vec![root.join("README.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guides.sort();
    paths.extend(guides);
    paths.into_iter().map(|path| (path.clone(), std::fs::read_to_string(&path).unwrap())).collect()
}

/// The code in a guide: fenced blocks whole, and the inline `spans` of other lines, each with its line
/// number. Prose is left out: "Rollgate" and "rollgate" in a sentence are not commands.
fn code_of(text: &str) -> Vec<(usize, String)> {
    let mut code = Vec::new();
    let mut fenced = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            code.push((index + 1, line.to_owned()));
        } else {
            code.extend(line.split('`').skip(1).step_by(2).map(|span| (index + 1, span.to_owned())));
        }
    }
    code
}

/// Words of a shell-ish command line, without the brackets and punctuation that usage lines wrap them in.
fn words(command: &str) -> Vec<String> {
    command
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | ',' | '.' | ':' | '"' | '\'')).to_owned())
        .collect()
}

fn long_options(command: &clap::Command) -> BTreeSet<String> {
    command.get_arguments().filter_map(|arg| arg.get_long().map(str::to_owned)).chain(["help".to_owned()]).collect()
}

/// Checks one `rollgate ...` invocation against the built command tree (global options propagated): its
/// subcommands exist and each `--option` belongs to the command reached. Returns what is wrong.
fn check_invocation(root: &clap::Command, after: &[String]) -> Option<String> {
    let mut command = root.clone();
    let mut path = vec!["rollgate".to_owned()];
    let mut words = after.iter().peekable();
    while let Some(word) = words.peek() {
        let Some(sub) = command.find_subcommand(word.as_str()).cloned() else { break };
        path.push((*word).clone());
        words.next();
        command = sub;
    }
    if path.len() == 1 {
        if let Some(word) = after.first() {
            // A placeholder such as COMMAND, or an option of the binary itself, is not a subcommand.
            let placeholder = word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            if !placeholder && !word.starts_with("--") && !word.is_empty() {
                return Some(format!("`rollgate {word}` is not a command"));
            }
        }
    }
    let known = long_options(&command);
    for word in words {
        // The rest of a shell line is another command.
        if matches!(word.as_str(), "|" | "&&" | "||" | ";" | "#" | ">" | "&") {
            break;
        }
        if let Some(option) = word.strip_prefix("--") {
            let name = option.split('=').next().unwrap_or_default();
            if !name.is_empty() && !known.contains(name) {
                return Some(format!("`{}` has no option --{name}", path.join(" ")));
            }
        }
    }
    None
}

fn built_cli() -> clap::Command {
    let mut cli = server::config::Cli::command();
    cli.build();
    cli
}

#[test]
fn every_command_the_guides_show_exists_with_the_options_they_give_it() {
    let root = built_cli();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (path, text) in documents() {
        for (line, code) in code_of(&text) {
            let words = words(&code);
            // The binary, not `rollgate:` (a YAML key) or `rollgate_session` (a cookie).
            let raw: Vec<&str> = code.split_whitespace().map(|w| w.trim_start_matches(['(', '['])).collect();
            for (at, word) in raw.iter().enumerate() {
                if *word == "rollgate" {
                    checked += 1;
                    if let Some(problem) = check_invocation(&root, &words[at + 1..]) {
                        wrong.push(format!("{}:{line}: {problem}", path.display()));
                    }
                }
            }
        }
    }
    assert!(
        checked > 20,
        "the guides show {checked} rollgate commands; expected the operations guide's table at least"
    );
    assert!(wrong.is_empty(), "the guides show commands the binary does not have:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_notices_a_command_or_an_option_that_does_not_exist() {
    let root = built_cli();
    let check = |line: &str| check_invocation(&root, &words(line)[1..]);
    assert_eq!(check("rollgate token create --name web --scope evaluate --env production"), None);
    assert_eq!(check("rollgate export --env staging | less --chop-long-lines"), None);
    assert!(check("rollgate frobnicate").is_some());
    assert!(check("rollgate token create --colour red").is_some());
    assert!(matches("/api/v1/flags/{key}", "/api/v1/flags/checkout_v2"));
    assert!(!matches("/api/v1/flags/{key}", "/api/v1/flags/checkout_v2/extra"));
    assert!(!matches("/api/admin/export", "/api/admin/import"));
    // Options of the binary reach every command.
    assert_eq!(check("rollgate migrate --data-dir /srv/rollgate/pg"), None);
}

/// Every `--long` option's environment variable in the command tree.
fn clap_environment_variables(command: &clap::Command, into: &mut BTreeSet<String>) {
    for arg in command.get_arguments() {
        if let Some(name) = arg.get_env() {
            into.insert(name.to_string_lossy().into_owned());
        }
    }
    for sub in command.get_subcommands() {
        clap_environment_variables(sub, into);
    }
}

/// The Rust and shell sources, where variables read outside clap (passwords, the log filter) are named.
fn sources() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut text = String::new();
    let mut pending = vec![root.join("server/src"), root.join("app/src"), root.join("scripts")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_none_or(|ext| ext == "rs" || ext == "sh") {
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    text
}

#[test]
fn every_environment_variable_the_guides_name_is_read_by_rollgate() {
    let mut known = BTreeSet::new();
    clap_environment_variables(&server::config::Cli::command(), &mut known);
    let sources = sources();
    let mut wrong = BTreeSet::new();
    for (path, text) in documents() {
        for (index, line) in text.lines().enumerate() {
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                let named = word.starts_with("ROLLGATE_") && word.len() > "ROLLGATE_".len();
                if named && !known.contains(word) && !sources.contains(&format!("\"{word}\"")) {
                    wrong.insert(format!("{}:{}: {word}", path.display(), index + 1));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the guides name variables nothing reads:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// `METHOD /path` pairs the guides name for the evaluation and admin APIs; `a\|b` in a table is two paths.
fn documented_endpoints() -> BTreeSet<(String, String)> {
    let mut endpoints = BTreeSet::new();
    for (_, text) in documents() {
        for (_, code) in code_of(&text) {
            let parts: Vec<&str> = code.split_whitespace().collect();
            for pair in parts.windows(2) {
                let method = pair[0].trim_start_matches(['(', '`']);
                if !matches!(method, "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
                    continue;
                }
                let path = pair[1].split(['?', '[']).next().unwrap_or_default().trim_end_matches([',', ')', '`', '.']);
                // The document itself is served beside the API, not described in it.
                let api = path.starts_with("/api/") || path.starts_with("/ofrep/");
                if !api || path == "/api/openapi.json" {
                    continue;
                }
                let (stem, last) = path.rsplit_once('/').unwrap_or(("", path));
                for alternative in last.split("\\|") {
                    endpoints.insert((method.to_lowercase(), format!("{stem}/{alternative}")));
                }
            }
        }
    }
    endpoints
}

/// Whether a documented path is an instance of a template of the document: `{key}` in either stands for
/// any one segment, so `/api/v1/flags/checkout_v2` and `/api/v1/flags/{flag}` both match `/api/v1/flags/{key}`.
fn matches(template: &str, documented: &str) -> bool {
    let (template, documented): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), documented.split('/').collect());
    template.len() == documented.len()
        && template.iter().zip(&documented).all(|(t, d)| t == d || t.starts_with('{') || d.starts_with('{'))
}

#[sqlx::test(migrations = "../migrations")]
async fn every_endpoint_the_guides_name_is_in_the_openapi_document(pool: PgPool) {
    let router = router(&pool);
    let served = send(&router, Request::get("/api/openapi.json").body(Body::empty()).unwrap()).await;
    assert_eq!(served.status(), StatusCode::OK);
    let document: serde_json::Value = serde_json::from_str(&body_text(served).await).unwrap();
    let described: Vec<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations.as_object().unwrap().keys().map(move |method| (method.clone(), path.clone()))
        })
        .collect();

    let documented = documented_endpoints();
    assert!(documented.len() > 20, "found only {} endpoints in the guides", documented.len());
    let missing: Vec<String> = documented
        .iter()
        .filter(|(method, path)| !described.iter().any(|(m, template)| m == method && matches(template, path)))
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "the guides name endpoints the OpenAPI document does not describe:\n{}",
        missing.join("\n")
    );
}
