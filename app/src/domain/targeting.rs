//! Targeting: constraints on the context, segments that name a set of them, ordered rules per flag and
//! environment, rollout audiences and prerequisites. Where evaluation uses them, in order, is written in
//! [`super::evaluation`]'s module doc.
//!
//! The semantics of constraints and segments are Unleash's, checked against its client specification's
//! vectors (`unleash_spec.rs`); what Rollgate does differently, on purpose, is listed there by case.

mod constraint;
mod prerequisite;
mod rule;

#[cfg(test)]
mod properties;
#[cfg(test)]
mod unleash_spec;

pub use super::evaluation::EvalContext;
pub use constraint::{Constraint, ContextField, Matcher, Operator};
pub use prerequisite::{check_prerequisites, dependencies_first, find_cycle, longest_chain, Prerequisite};
pub use rule::{
    compile_rules, parse_segment_key, Audience, CompiledCondition, CompiledRule, CompiledSegment, Condition, FlagShape,
    Segments, Serve, Served, TargetingRule,
};

/// The limits on what one flag, rule, segment or constraint may hold. They keep one evaluation's work
/// bounded (a request evaluates every flag) and a form or a file from growing without end; each is well
/// above what a team writes by hand.
pub mod limits {
    /// Targeting rules of one flag in one environment.
    pub const RULES: usize = 100;
    /// Constraints of one rule, segment or audience.
    pub const CONSTRAINTS: usize = 50;
    /// Segments one rule or audience uses.
    pub const SEGMENTS_PER_RULE: usize = 20;
    /// Values of one constraint: a segment of ten thousand customer keys is one set lookup.
    pub const VALUES_PER_CONSTRAINT: usize = 10_000;
    /// Characters of one value.
    pub const VALUE_LEN: usize = 1_000;
    /// Characters of one regular expression.
    pub const REGEX_LEN: usize = 1_000;
    /// Memory one compiled regular expression may take. The regex crate matches in linear time in the
    /// length of the input, whatever the expression; this bounds the other dimension.
    pub const REGEX_COMPILED_BYTES: usize = 1 << 20;
    /// Prerequisites of one flag in one environment.
    pub const PREREQUISITES: usize = 20;
    /// How deep a chain of prerequisites may go (a requires b requires c...): evaluation follows chains
    /// this deep and the write path refuses deeper ones.
    pub const PREREQUISITE_DEPTH: usize = 16;
}
