//! `rollgate rollback`: rolls flags back in one environment through the admin API.
//!
//! Rolling a flag back means both: its live rollout (planned, active or paused), if any, is rolled back
//! to 0% and finished (`POST /api/admin/rollout/rollback`), and its kill switch is turned off in the
//! environment (`PUT /api/admin/feature-flags/{key}/environments/{env}`). A flag already off with no
//! live rollout has nothing to do. [`plan`] reads what would change, [`execute`] changes it; both are
//! library functions so that tests call them against a real server, and [`run`] adds the printing and the
//! confirmation.
//!
//! Every change carries the version the plan read (`expected_version`): what someone else changed in
//! between is refused with 409 and reported, not overwritten. The kill switch goes first, as it stops
//! every evaluation at once; the rollout's rollback follows even if the kill switch failed.

use super::client::{segment, ApiClient};
use crate::config::RollbackArgs;
use anyhow::bail;
use app::domain::rollout::RolloutStatus;
use app::model::{FlagRow, RolloutChip, RolloutView};
use futures_util::stream::{self, StreamExt};
use reqwest::Method;
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::time::{Duration, Instant};

/// Which flags to roll back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every flag on in the environment or with a live rollout there.
    Full,
    /// These flags; an unknown one stops the command before anything changes.
    Flags(Vec<String>),
    /// Every flag of this phase.
    Phase(String),
}

/// A flag's live rollout, as the plan read it from the flag list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveRollout {
    pub id: i64,
    pub status: RolloutStatus,
    pub percent: String,
    pub version: i32,
}

impl From<RolloutChip> for LiveRollout {
    fn from(chip: RolloutChip) -> Self {
        Self { id: chip.id, status: chip.status, percent: chip.percent, version: chip.version }
    }
}

/// One change the rollback makes.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// The kill switch off, based on this state version.
    TurnOff { expected_version: i32 },
    /// The live rollout rolled back to 0% and finished, based on this rollout version.
    RollBackRollout { rollout: i64, expected_version: i32 },
}

/// One flag of the plan: its state in the environment and what will be done to it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagPlan {
    pub flag: String,
    pub enabled: bool,
    pub state_version: i32,
    pub rollout: Option<LiveRollout>,
}

impl FlagPlan {
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = Vec::new();
        if self.enabled {
            steps.push(Step::TurnOff { expected_version: self.state_version });
        }
        if let Some(r) = &self.rollout {
            steps.push(Step::RollBackRollout { rollout: r.id, expected_version: r.version });
        }
        steps
    }

    /// What will change, in words.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.enabled {
            parts.push(format!("turn off (now on, version {})", self.state_version));
        }
        if let Some(r) = &self.rollout {
            parts.push(format!(
                "roll back rollout #{} ({} at {}, version {}) to 0%",
                r.id, r.status, r.percent, r.version
            ));
        }
        if parts.is_empty() {
            "nothing to do (already off, no live rollout)".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// What `rollback` will do in one environment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackPlan {
    pub environment: String,
    pub flags: Vec<FlagPlan>,
    /// With `--full`: flags left out because they are off with no live rollout.
    pub untouched: usize,
}

impl RollbackPlan {
    /// The flags with at least one change.
    pub fn to_change(&self) -> usize {
        self.flags.iter().filter(|f| !f.steps().is_empty()).count()
    }

    pub fn render(&self, reason: &str) -> String {
        let width = self.flags.iter().map(|f| f.flag.len()).max().unwrap_or(0);
        let mut out = format!("Rollback plan for {} (reason: {reason:?}):\n", self.environment);
        for f in &self.flags {
            out.push_str(&format!("  {:<width$}  {}\n", f.flag, f.describe()));
        }
        out.push_str(&format!(
            "{} flag(s) to roll back, {} with nothing to do",
            self.to_change(),
            self.flags.len() - self.to_change()
        ));
        if self.untouched > 0 {
            out.push_str(&format!(", {} other flag(s) already off with no live rollout", self.untouched));
        }
        out.push_str(".\n");
        out
    }
}

/// Reads the flags, with their state and live rollout in the environment, from the flag list (one
/// request per 1,000 flags) and works out the plan. Changes nothing. Fails, before anything changes, on an
/// unknown environment, phase or flag.
pub async fn plan(client: &ApiClient, selection: &Selection, environment: &str) -> anyhow::Result<RollbackPlan> {
    let phase = match selection {
        Selection::Phase(p) => Some(p.as_str()),
        _ => None,
    };
    let listing = client.all_flags(phase).await?;
    if !listing.environments.iter().any(|e| e.key == environment) {
        let known: Vec<&str> = listing.environments.iter().map(|e| e.key.as_str()).collect();
        bail!("no environment {environment:?} (environments: {})", known.join(", "));
    }
    if let Some(p) = phase {
        if !listing.phases.iter().any(|known| known.key == p) {
            let known: Vec<&str> = listing.phases.iter().map(|p| p.key.as_str()).collect();
            bail!("no phase {p:?} (phases: {})", known.join(", "));
        }
    }
    let plan_for = |flag: &FlagRow| -> Option<FlagPlan> {
        flag.states.iter().find(|s| s.environment == environment).map(|s| FlagPlan {
            flag: flag.key.clone(),
            enabled: s.enabled,
            state_version: s.version,
            rollout: s.rollout.clone().map(LiveRollout::from),
        })
    };
    let mut flags = Vec::new();
    let mut untouched = 0;
    match selection {
        Selection::Flags(keys) => {
            let mut unknown = Vec::new();
            for key in keys.iter().map(|k| k.trim()).filter(|k| !k.is_empty()) {
                if flags.iter().any(|f: &FlagPlan| f.flag == key) {
                    continue;
                }
                match listing.flags.iter().find(|f| f.key == key).and_then(plan_for) {
                    Some(planned) => flags.push(planned),
                    None => unknown.push(key),
                }
            }
            if !unknown.is_empty() {
                bail!(
                    "unknown flag(s) in {environment}: {} (not found, or archived); nothing was changed",
                    unknown.join(", ")
                );
            }
            if flags.is_empty() {
                bail!("--partial needs at least one flag key");
            }
        }
        Selection::Phase(_) => flags.extend(listing.flags.iter().filter_map(plan_for)),
        Selection::Full => {
            for planned in listing.flags.iter().filter_map(plan_for) {
                if planned.steps().is_empty() {
                    untouched += 1;
                } else {
                    flags.push(planned);
                }
            }
        }
    }
    Ok(RollbackPlan { environment: environment.to_owned(), flags, untouched })
}

/// How one step went: `Ok` with what was done, or `Err` with the API's message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepOutcome {
    pub step: Step,
    pub result: Result<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FlagOutcome {
    pub flag: String,
    pub steps: Vec<StepOutcome>,
}

impl FlagOutcome {
    pub fn ok(&self) -> bool {
        self.steps.iter().all(|s| s.result.is_ok())
    }
}

/// What `execute` did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RollbackOutcome {
    pub environment: String,
    /// Only the flags that had something to do, in plan order.
    pub flags: Vec<FlagOutcome>,
    pub elapsed: Duration,
}

impl RollbackOutcome {
    pub fn failed(&self) -> usize {
        self.flags.iter().filter(|f| !f.ok()).count()
    }

    pub fn render(&self) -> String {
        let width = self.flags.iter().map(|f| f.flag.len()).max().unwrap_or(0);
        let mut out = String::new();
        for f in &self.flags {
            let text: Vec<String> = f
                .steps
                .iter()
                .map(|s| match &s.result {
                    Ok(done) => done.clone(),
                    Err(why) => format!("{} FAILED: {why}", step_name(&s.step)),
                })
                .collect();
            out.push_str(&format!(
                "{:<6}  {:<width$}  {}\n",
                if f.ok() { "OK" } else { "FAILED" },
                f.flag,
                text.join("; ")
            ));
        }
        out.push_str(&format!(
            "Rolled back {} of {} flag(s) in {} in {:.2} s",
            self.flags.len() - self.failed(),
            self.flags.len(),
            self.environment,
            self.elapsed.as_secs_f64()
        ));
        if self.failed() > 0 {
            out.push_str(&format!("; {} failed", self.failed()));
        }
        out.push_str(".\n");
        out
    }
}

fn step_name(step: &Step) -> &'static str {
    match step {
        Step::TurnOff { .. } => "turn off",
        Step::RollBackRollout { .. } => "rollout rollback",
    }
}

/// Carries out the plan through the admin API, `concurrency` flags at a time; each flag's steps in order.
/// Never fails as a whole: each step's result is in the outcome.
pub async fn execute(client: &ApiClient, plan: &RollbackPlan, reason: &str, concurrency: usize) -> RollbackOutcome {
    let started = Instant::now();
    let env = plan.environment.as_str();
    let flags = stream::iter(plan.flags.iter().filter(|f| !f.steps().is_empty()))
        .map(|f| async move {
            let mut steps = Vec::new();
            for step in f.steps() {
                let result = run_step(client, env, f, &step, reason).await;
                steps.push(StepOutcome { step, result });
            }
            FlagOutcome { flag: f.flag.clone(), steps }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    RollbackOutcome { environment: env.to_owned(), flags, elapsed: started.elapsed() }
}

async fn run_step(client: &ApiClient, env: &str, f: &FlagPlan, step: &Step, reason: &str) -> Result<String, String> {
    match step {
        Step::TurnOff { expected_version } => {
            let path = format!("/api/admin/feature-flags/{}/environments/{}", segment(&f.flag), segment(env));
            let body = serde_json::json!({ "enabled": false, "expected_version": expected_version, "reason": reason });
            client
                .send::<app::model::FlagState>(Method::PUT, &path, Some(&body))
                .await
                .map(|state| format!("turned off (version {})", state.version))
                .map_err(|e| e.short())
        }
        Step::RollBackRollout { rollout, expected_version } => {
            let body = serde_json::json!({
                "flag": f.flag, "environment": env, "expected_version": expected_version, "reason": reason,
            });
            let was = f.rollout.as_ref().map(|r| format!(" (was {} at {})", r.status, r.percent)).unwrap_or_default();
            client
                .send::<RolloutView>(Method::POST, "/api/admin/rollout/rollback", Some(&body))
                .await
                .map(|view| match view.status {
                    RolloutStatus::RolledBack => {
                        format!("rollout #{rollout} rolled back to {}{was}", view.current_percent)
                    }
                    other => format!("rollout #{rollout} now {other} at {}{was}", view.current_percent),
                })
                .map_err(|e| e.short())
        }
    }
}

/// Asks on the terminal; refuses when standard input is not one.
fn confirm(plan: &RollbackPlan) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "not confirmed: standard input is not a terminal, so nobody can answer. Check the plan above \
             (--dry-run shows it alone) and run again with --yes to roll back; nothing was changed"
        );
    }
    print!("Type \"yes\" to roll back {} flag(s) in {}: ", plan.to_change(), plan.environment);
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        bail!("not confirmed; nothing was changed")
    }
}

/// `rollgate rollback`.
pub async fn run(args: RollbackArgs) -> anyhow::Result<()> {
    let reason = args.reason.trim();
    if reason.is_empty() {
        bail!("--reason is empty: say why, it goes into the audit trail");
    }
    let selection = if args.selection.full {
        Selection::Full
    } else if let Some(phase) = args.selection.phase {
        Selection::Phase(phase)
    } else {
        Selection::Flags(args.selection.partial)
    };
    let client =
        ApiClient::new(&args.remote.url, Some(args.remote.token), Duration::from_secs(args.remote.timeout_seconds))?;
    let concurrency = usize::from(args.concurrency);
    let plan = plan(&client, &selection, &args.environment).await?;
    super::write_stdout(&plan.render(reason))?;
    if plan.to_change() == 0 {
        super::write_stdout("Nothing to do.\n")?;
        return Ok(());
    }
    if args.dry_run {
        super::write_stdout("Dry run: nothing was changed.\n")?;
        return Ok(());
    }
    let plan = if args.yes {
        plan
    } else {
        // Reading the terminal blocks; keep it off the async workers.
        tokio::task::spawn_blocking(move || confirm(&plan).map(|()| plan)).await??
    };
    report(execute(&client, &plan, reason, concurrency).await)
}

fn report(outcome: RollbackOutcome) -> anyhow::Result<()> {
    super::write_stdout(&outcome.render())?;
    if outcome.failed() > 0 {
        bail!("{} of {} flag(s) failed to roll back; see above", outcome.failed(), outcome.flags.len());
    }
    Ok(())
}
