//! Prerequisites: flags that must be on (or off, or on one of some variants) in the same environment for a
//! flag to be served. Chains are allowed; cycles are refused when written, with the cycle named.

use super::super::InvalidValue;
use super::limits;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// One flag this flag requires, as written and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Prerequisite {
    /// The required flag's key.
    pub flag: String,
    /// `true` (the default): it must be on for the context. `false`: it must be off.
    #[serde(default = "yes")]
    pub on: bool,
    /// With `on`, it must also serve one of these variants; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Prerequisite {
    /// A flag that must be on.
    pub fn on(flag: impl Into<String>) -> Self {
        Self { flag: flag.into(), on: true, variants: Vec::new() }
    }

    /// As people read it: "dlq on", "dlq off", "checkout on blue or green".
    pub fn describe(&self) -> String {
        match (self.on, self.variants.as_slice()) {
            (false, _) => format!("{} off", self.flag),
            (true, []) => format!("{} on", self.flag),
            (true, variants) => format!("{} on {}", self.flag, variants.join(" or ")),
        }
    }

    /// Whether a flag's answer satisfies this requirement: `on` is whether it served its on path (not
    /// disabled, its own prerequisites held, and not its off value); `variant` the variant it served.
    pub fn satisfied_by(&self, on: bool, variant: Option<&str>) -> bool {
        if !self.on {
            return !on;
        }
        on && (self.variants.is_empty() || variant.is_some_and(|v| self.variants.iter().any(|want| want == v)))
    }
}

/// Checks a flag's prerequisites in one environment on their own: limits, no flag twice, not itself,
/// variants only with `on`. Whether the flags and variants exist, and cycles, the caller checks against
/// the stored configuration (see [`find_cycle`]).
pub fn check_prerequisites(flag: &str, list: &[Prerequisite]) -> Result<(), InvalidValue> {
    let bad = |message: String| InvalidValue::new("prerequisites", message);
    if list.len() > limits::PREREQUISITES {
        return Err(bad(format!("{} prerequisites; a flag takes at most {}", list.len(), limits::PREREQUISITES)));
    }
    let mut seen = HashSet::new();
    for p in list {
        if p.flag == flag {
            return Err(bad(format!("{flag} cannot require itself")));
        }
        if !seen.insert(p.flag.as_str()) {
            return Err(bad(format!("{} is required twice", p.flag)));
        }
        if !p.on && !p.variants.is_empty() {
            return Err(bad(format!("{} must be off, so it serves no variant to require", p.flag)));
        }
    }
    Ok(())
}

/// The cycle that giving `flag` the prerequisites `requires` would close, if any, as the path of keys from
/// `flag` back to itself (`a -> b -> c -> a`). `graph` holds every other flag's prerequisites in the
/// environment (flag -> the flags it requires); `flag`'s own entry in it is ignored.
pub fn find_cycle(flag: &str, requires: &[String], graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    // Depth-first from each required flag, looking for `flag`; `path` is the way down.
    fn walk<'g>(
        at: &'g str,
        target: &str,
        graph: &'g BTreeMap<String, Vec<String>>,
        path: &mut Vec<&'g str>,
        done: &mut HashSet<&'g str>,
    ) -> bool {
        if at == target {
            return true;
        }
        if !done.insert(at) {
            return false;
        }
        path.push(at);
        for next in graph.get(at).into_iter().flatten() {
            if walk(next, target, graph, path, done) {
                return true;
            }
        }
        path.pop();
        false
    }
    let mut done = HashSet::new();
    for first in requires {
        let mut path = Vec::new();
        if walk(first, flag, graph, &mut path, &mut done) {
            let mut cycle = vec![flag.to_owned()];
            cycle.extend(path.into_iter().map(str::to_owned));
            cycle.push(flag.to_owned());
            return Some(cycle);
        }
    }
    None
}

/// The longest chain of prerequisites in an acyclic graph (flag -> the flags it requires), as the keys along
/// it: `[a, b, c]` when a requires b and b requires c. Empty for an empty graph.
pub fn longest_chain(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    fn from<'g>(
        at: &'g str,
        graph: &'g BTreeMap<String, Vec<String>>,
        memo: &mut std::collections::HashMap<&'g str, Vec<&'g str>>,
    ) -> Vec<&'g str> {
        if let Some(known) = memo.get(at) {
            return known.clone();
        }
        let mut best: Vec<&str> = Vec::new();
        for next in graph.get(at).into_iter().flatten() {
            let chain = from(next, graph, memo);
            if chain.len() > best.len() {
                best = chain;
            }
        }
        best.insert(0, at);
        memo.insert(at, best.clone());
        best
    }
    let mut memo = std::collections::HashMap::new();
    let mut longest: Vec<&str> = Vec::new();
    for start in graph.keys() {
        let chain = from(start, graph, &mut memo);
        if chain.len() > longest.len() {
            longest = chain;
        }
    }
    longest.into_iter().map(str::to_owned).collect()
}

/// The flags of an acyclic graph (flag -> the flags it requires), each after the flags it requires, ties
/// in key order. Writing a whole graph's new edges in this order never closes a cycle on the way, even
/// when edges change direction: a flag's new edges only reach flags that already have theirs.
pub fn dependencies_first(graph: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    fn visit<'g>(
        at: &'g str,
        graph: &'g BTreeMap<String, Vec<String>>,
        done: &mut HashSet<&'g str>,
        order: &mut Vec<&'g str>,
    ) {
        if !done.insert(at) {
            return;
        }
        for next in graph.get(at).into_iter().flatten() {
            visit(next, graph, done, order);
        }
        order.push(at);
    }
    let (mut done, mut order) = (HashSet::new(), Vec::new());
    for start in graph.keys() {
        visit(start, graph, &mut done, &mut order);
    }
    order.into_iter().map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect())).collect()
    }

    #[test]
    fn a_cycle_is_named_from_the_flag_back_to_itself() {
        let g = graph(&[("b", &["c"]), ("c", &["a"])]);
        assert_eq!(find_cycle("a", &["b".into()], &g), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
        assert_eq!(find_cycle("a", &["c".into()], &g), Some(vec!["a".into(), "c".into(), "a".into()]));
        assert_eq!(find_cycle("x", &["b".into()], &g), None, "a chain is not a cycle");
    }

    #[test]
    fn the_longest_chain_is_named_in_order() {
        let g = graph(&[("a", &["b", "x"]), ("b", &["c"]), ("x", &[])]);
        assert_eq!(longest_chain(&g), vec!["a", "b", "c"]);
        assert!(longest_chain(&BTreeMap::new()).is_empty());
    }

    #[test]
    fn every_flag_comes_after_the_flags_it_requires() {
        let g = graph(&[("a", &["b", "x"]), ("b", &["c"]), ("d", &["a"]), ("x", &[])]);
        let order = dependencies_first(&g);
        assert_eq!(order, vec!["c", "b", "x", "a", "d"]);
        let position = |key: &str| order.iter().position(|k| k == key).unwrap();
        for (flag, requires) in &g {
            for required in requires {
                assert!(position(required) < position(flag), "{required} must come before {flag}: {order:?}");
            }
        }
    }

    #[test]
    fn a_requirement_is_on_off_or_on_one_of_some_variants() {
        let on = Prerequisite::on("p");
        assert!(on.satisfied_by(true, None) && !on.satisfied_by(false, None));
        let off = Prerequisite { on: false, ..on.clone() };
        assert!(off.satisfied_by(false, None) && !off.satisfied_by(true, Some("a")));
        let blue = Prerequisite { variants: vec!["blue".into()], ..on };
        assert!(blue.satisfied_by(true, Some("blue")) && !blue.satisfied_by(true, Some("red")));
        assert!(!blue.satisfied_by(true, None) && !blue.satisfied_by(false, Some("blue")));
    }

    #[test]
    fn itself_twice_or_variants_of_an_off_flag_are_refused() {
        assert!(check_prerequisites("a", &[Prerequisite::on("a")]).unwrap_err().message.contains("itself"));
        let twice = [Prerequisite::on("b"), Prerequisite::on("b")];
        assert!(check_prerequisites("a", &twice).unwrap_err().message.contains("twice"));
        let odd = [Prerequisite { flag: "b".into(), on: false, variants: vec!["x".into()] }];
        assert!(check_prerequisites("a", &odd).unwrap_err().message.contains("off"));
    }
}
