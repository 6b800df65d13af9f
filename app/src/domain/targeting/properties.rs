//! Properties of constraints, rules and prerequisites that must hold for every input, not only the
//! examples in the specification's vectors.

use super::super::evaluation::{evaluate, EnvConfig, EvalContext, FlagConfig, NoFlags};
use super::super::FlagKey;
use super::{compile_rules, find_cycle, Constraint, ContextField, FlagShape, Operator, Segments, Serve, TargetingRule};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};

const FIELDS: [&str; 4] = ["customer_id", "plan", "region", "version"];
/// Values that parse as something for most operators: words, numbers, versions, times, addresses, and
/// expressions.
const VALUES: [&str; 16] = [
    "a",
    "beta",
    "Beta",
    "12",
    "12.5",
    "-3",
    "1.2.3",
    "2.0.0-rc.1",
    "2027-01-05T00:00:00Z",
    "10.0.0.0/8",
    "10.1.2.3",
    "2001:db8::/32",
    "^b",
    "a$",
    "e",
    "",
];

fn constraint() -> impl Strategy<Value = Constraint> {
    (
        prop::sample::select(FIELDS.to_vec()),
        prop::sample::select(Operator::ALL.to_vec()),
        prop::collection::vec(prop::sample::select(VALUES.to_vec()), 1..4),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(field, operator, values, inverted, case_insensitive)| {
            let values = if operator.takes_one_value() { values[..1].to_vec() } else { values };
            Constraint {
                field: ContextField::parse(field).expect("a field"),
                operator,
                values: values.into_iter().map(str::to_owned).collect(),
                inverted,
                case_insensitive,
            }
        })
}

fn context() -> impl Strategy<Value = EvalContext> {
    (
        prop::option::of(prop::sample::select(VALUES.to_vec())),
        prop::collection::btree_map(
            prop::sample::select(FIELDS[1..].to_vec()),
            prop::sample::select(VALUES.to_vec()),
            0..3,
        ),
    )
        .prop_map(|(customer, attributes)| EvalContext {
            customer_id: customer.map(str::to_owned),
            attributes: attributes.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
            ..EvalContext::default()
        })
}

fn holds(c: &Constraint, ctx: &EvalContext) -> Option<bool> {
    c.compile("c").ok().map(|m| m.holds(ctx))
}

fn rule(name: &str, constraints: Vec<Constraint>) -> TargetingRule {
    TargetingRule {
        name: name.to_owned(),
        constraints,
        segments: Vec::new(),
        serve: Serve::On,
        percent: None,
        stickiness: Default::default(),
    }
}

fn flag_with(rules: &[TargetingRule]) -> Option<(FlagConfig, EnvConfig)> {
    let flag = FlagConfig::boolean(FlagKey::parse("f").expect("a key"), 1);
    let shape = FlagShape { value_type: flag.value_type, variants: None };
    let mut env = EnvConfig::new(true, serde_json::json!(false));
    env.rules = compile_rules(rules, shape, &Segments::new()).ok()?;
    Some((flag, env))
}

/// The rule that decides, by name, or `None` for the default.
fn deciding_rule(flag: &(FlagConfig, EnvConfig), ctx: &EvalContext) -> Option<String> {
    match evaluate(Some((&flag.0, &flag.1)), ctx, &NoFlags).expect("a flag").decided_by {
        super::super::DecidedBy::Rule { name, .. } => Some(name.to_owned()),
        _ => None,
    }
}

proptest! {
    #[test]
    fn inverted_is_the_negation(c in constraint(), ctx in context()) {
        let inverted = Constraint { inverted: !c.inverted, ..c.clone() };
        if let (Some(a), Some(b)) = (holds(&c, &ctx), holds(&inverted, &ctx)) {
            prop_assert_ne!(a, b);
        }
    }

    #[test]
    fn not_in_is_the_negation_of_in(c in constraint(), ctx in context()) {
        let is_in = Constraint { operator: Operator::In, ..c.clone() };
        let not_in = Constraint { operator: Operator::NotIn, ..c };
        prop_assert_ne!(holds(&is_in, &ctx).expect("IN compiles"), holds(&not_in, &ctx).expect("NOT_IN compiles"));
    }

    #[test]
    fn adding_a_constraint_never_widens_who_a_rule_matches(
        base in prop::collection::vec(constraint(), 0..3),
        extra in constraint(),
        contexts in prop::collection::vec(context(), 1..20),
    ) {
        let mut narrower = base.clone();
        narrower.push(extra);
        if let (Some(wide), Some(narrow)) = (flag_with(&[rule("r", base)]), flag_with(&[rule("r", narrower)])) {
            for ctx in &contexts {
                if deciding_rule(&narrow, ctx).is_some() {
                    prop_assert!(deciding_rule(&wide, ctx).is_some(), "{ctx:?}");
                }
            }
        }
    }

    #[test]
    fn the_first_rule_that_holds_decides(
        a in prop::collection::vec(constraint(), 0..3),
        b in prop::collection::vec(constraint(), 0..3),
        ctx in context(),
    ) {
        let (Some(ab), Some(ba)) = (
            flag_with(&[rule("a", a.clone()), rule("b", b.clone())]),
            flag_with(&[rule("b", b.clone()), rule("a", a.clone())]),
        ) else { return Ok(()) };
        let a_holds = flag_with(&[rule("a", a)]).and_then(|f| deciding_rule(&f, &ctx)).is_some();
        let b_holds = flag_with(&[rule("b", b)]).and_then(|f| deciding_rule(&f, &ctx)).is_some();
        let expect = |first: (&str, bool), second: (&str, bool)| match (first, second) {
            ((name, true), _) | (_, (name, true)) => Some(name.to_owned()),
            _ => None,
        };
        prop_assert_eq!(deciding_rule(&ab, &ctx), expect(("a", a_holds), ("b", b_holds)));
        prop_assert_eq!(deciding_rule(&ba, &ctx), expect(("b", b_holds), ("a", a_holds)));
    }

    /// Whatever the graph, `find_cycle` refuses exactly the prerequisites that would close a cycle, and
    /// the cycle it names is one.
    #[test]
    fn a_prerequisite_cycle_is_always_refused(
        edges in prop::collection::vec((0u8..6, 0u8..6), 0..12),
        flag in 0u8..6,
        requires in prop::collection::vec(0u8..6, 1..3),
    ) {
        let name = |n: u8| format!("f{n}");
        // An acyclic graph to start from: keep only edges from a higher number to a lower one.
        let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (from, to) in edges.into_iter().filter(|(from, to)| from > to) {
            graph.entry(name(from)).or_default().push(name(to));
        }
        graph.remove(&name(flag));
        let requires: Vec<String> = requires.into_iter().filter(|r| *r != flag).map(name).collect();
        let mut with = graph.clone();
        with.insert(name(flag), requires.clone());
        match find_cycle(&name(flag), &requires, &graph) {
            Some(cycle) => {
                prop_assert_eq!(cycle.first(), cycle.last());
                for pair in cycle.windows(2) {
                    prop_assert!(with.get(&pair[0]).is_some_and(|next| next.contains(&pair[1])), "{cycle:?}");
                }
            }
            None => prop_assert!(acyclic(&with), "{with:?}"),
        }
    }
}

fn acyclic(graph: &BTreeMap<String, Vec<String>>) -> bool {
    fn visit<'g>(
        n: &'g str,
        g: &'g BTreeMap<String, Vec<String>>,
        on_path: &mut HashSet<&'g str>,
        done: &mut HashSet<&'g str>,
    ) -> bool {
        if done.contains(n) {
            return true;
        }
        if !on_path.insert(n) {
            return false;
        }
        let ok = g.get(n).into_iter().flatten().all(|m| visit(m, g, on_path, done));
        on_path.remove(n);
        done.insert(n);
        ok
    }
    let (mut on_path, mut done) = (HashSet::new(), HashSet::new());
    graph.keys().all(|n| visit(n, graph, &mut on_path, &mut done))
}

fn version() -> impl Strategy<Value = String> {
    (0u64..4, 0u64..4, 0u64..4, prop::option::of(prop::sample::select(vec!["alpha", "alpha.1", "rc.2", "beta"])))
        .prop_map(|(a, b, c, pre)| match pre {
            Some(pre) => format!("{a}.{b}.{c}-{pre}"),
            None => format!("{a}.{b}.{c}"),
        })
}

proptest! {
    /// The version operators order as SemVer's precedence, whether the shortcut for plain versions or the
    /// full parser compares them.
    #[test]
    fn version_operators_follow_semver_precedence(theirs in version(), ours in version()) {
        let order = semver::Version::parse(&theirs).unwrap().cmp_precedence(&semver::Version::parse(&ours).unwrap());
        for (operator, expected) in [
            (Operator::SemverEq, order.is_eq()),
            (Operator::SemverGt, order.is_gt()),
            (Operator::SemverGte, order.is_ge()),
            (Operator::SemverLt, order.is_lt()),
            (Operator::SemverLte, order.is_le()),
        ] {
            let c = Constraint::new(ContextField::parse("v").unwrap(), operator, vec![ours.clone()]);
            let ctx = EvalContext { attributes: [("v".to_owned(), theirs.clone())].into(), ..EvalContext::default() };
            prop_assert_eq!(holds(&c, &ctx), Some(expected), "{} {} {}", theirs, operator, ours);
        }
    }
}
