//! What a webhook can subscribe to. The spelling is the wire format of every delivery (`"event"` in the
//! generic body) and what `webhooks.events` stores, so it never changes once shipped; the meaning is what
//! the settings page shows beside each checkbox.

use super::rollout::TransitionKind;
use super::InvalidValue;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! webhook_events {
    ($($variant:ident => $text:literal, $meaning:literal;)+) => {
        /// An event a webhook can subscribe to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum WebhookEvent { $(#[serde(rename = $text)] $variant),+ }

        impl WebhookEvent {
            /// Every event, in the order the settings page lists them (and deliveries store them).
            pub const ALL: &'static [WebhookEvent] = &[$(WebhookEvent::$variant),+];

            /// The stored and delivered spelling, e.g. `rollout.advanced`.
            pub fn as_str(self) -> &'static str {
                match self { $(WebhookEvent::$variant => $text),+ }
            }

            /// What it means, in words for the settings page.
            pub fn meaning(self) -> &'static str {
                match self { $(WebhookEvent::$variant => $meaning),+ }
            }
        }
    };
}

webhook_events! {
    RolloutStarted => "rollout.started", "a rollout started";
    RolloutAdvanced => "rollout.advanced", "a rollout advanced to its next stage";
    RolloutPaused => "rollout.paused", "a rollout was paused";
    RolloutResumed => "rollout.resumed", "a paused rollout resumed";
    RolloutRolledBack => "rollout.rolled_back", "a rollout was rolled back, by a person or a guardrail";
    RolloutCompleted => "rollout.completed", "a rollout completed";
    SignoffRequested => "signoff.requested", "a stage waits for sign-offs";
    GuardrailBreached => "guardrail.breached", "a guardrail fired";
    GuardrailSourceDown => "guardrail.source_down", "a guardrail's metrics source is down (the rollout is frozen)";
    ScheduleFailed => "schedule.failed", "a scheduled change failed";
    ImportFailed => "import.failed", "an import failed";
    FlagStale => "flag.stale", "a flag became stale";
    WebhookTest => "webhook.test", "the Send test button";
}

impl WebhookEvent {
    /// Whether a new webhook subscribes to it unless the admin unticks it: everything but the test button,
    /// which reaches a webhook whether or not it subscribed.
    pub fn on_by_default(self) -> bool {
        self != WebhookEvent::WebhookTest
    }
}

impl From<TransitionKind> for WebhookEvent {
    fn from(kind: TransitionKind) -> Self {
        match kind {
            TransitionKind::Started => WebhookEvent::RolloutStarted,
            TransitionKind::Advanced => WebhookEvent::RolloutAdvanced,
            TransitionKind::Paused => WebhookEvent::RolloutPaused,
            TransitionKind::Resumed => WebhookEvent::RolloutResumed,
            TransitionKind::RolledBack => WebhookEvent::RolloutRolledBack,
            TransitionKind::Completed => WebhookEvent::RolloutCompleted,
        }
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WebhookEvent {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| InvalidValue::new("events", format!("there is no event {s:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_reads_back_from_its_spelling_and_serializes_as_it() {
        for &event in WebhookEvent::ALL {
            assert_eq!(event.as_str().parse::<WebhookEvent>(), Ok(event));
            assert_eq!(serde_json::to_value(event).ok(), Some(serde_json::Value::from(event.as_str())));
        }
        assert_eq!("rollout.exploded".parse::<WebhookEvent>().map_err(|e| e.field), Err("events"));
    }

    #[test]
    fn every_transition_has_the_rollout_event_of_the_same_name() {
        for &kind in TransitionKind::ALL {
            assert_eq!(WebhookEvent::from(kind).as_str(), format!("rollout.{}", kind.as_str()));
        }
    }
}
