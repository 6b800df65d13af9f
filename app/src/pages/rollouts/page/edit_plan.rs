//! The form that edits a live rollout's stages, allow-list and audience.

use crate::model::RolloutView;
use crate::pages::rollouts::actions::EditRollout;
use crate::pages::rollouts::widgets::Outcome;
use crate::pages::targeting_form::{ConditionRows, ContextFieldList, SegmentBoxes};
use leptos::prelude::*;

/// The plan as editable lines (see `stage_text`): a new plan bumps the version and voids the sign-offs.
#[component]
pub(super) fn EditPlan(
    rollout: RolloutView,
    segments: Vec<(String, String)>,
    edit: ServerAction<EditRollout>,
) -> impl IntoView {
    let text = crate::pages::rollouts::stage_text::format_stage_lines(&rollout.stages);
    let rows = rollout.stages.len().max(3).to_string();
    let value = edit.value();
    let outcome = Signal::derive(move || value.get());
    let audience = rollout.audience.clone().unwrap_or_default();
    view! {
        <section class="card" aria-labelledby="edit-plan-h">
            <details open=move || value.with(|v| matches!(v, Some(Err(_))))>
                <summary><h2 id="edit-plan-h" class="inline-heading">"Edit the plan"</h2></summary>
                <p class="muted small">
                    "One stage per line: name | percent | sign-off roles | soak before the next. A started rollout keeps its current stage at "
                    "its percentage. Saving a new plan voids the sign-offs given so far."
                </p>
                <Outcome value=outcome test_id="edit-outcome" />
                <ActionForm action=edit attr:class="form-grid" attr:aria-label="Edit the plan"
                    attr:onsubmit="return window.confirm('Save the new plan? Sign-offs given so far will no longer count.');">
                    <input type="hidden" name="rollout" value=rollout.id.to_string() />
                    <input type="hidden" name="expected_version" value=rollout.version.to_string() />
                    <div class="field field-wide">
                        <label for="edit-stages">"Stages"</label>
                        <textarea id="edit-stages" name="stages" class="mono" rows=rows>{text}</textarea>
                    </div>
                    <div class="field">
                        <label for="edit-customers">"Allow-listed customers"</label>
                        <input id="edit-customers" name="allow_customers" type="text" autocomplete="off"
                            value=rollout.allow_customers.join(", ") placeholder="cust-0001, cust-0002"
                            aria-describedby="edit-allow-hint" />
                    </div>
                    <div class="field">
                        <label for="edit-organizations">"Allow-listed organizations"</label>
                        <input id="edit-organizations" name="allow_organizations" type="text" autocomplete="off"
                            value=rollout.allow_organizations.join(", ") placeholder="acme, globex"
                            aria-describedby="edit-allow-hint" />
                    </div>
                    <p class="hint field-wide" id="edit-allow-hint">
                        "Keys as your application sends them, separated by commas; always in while the rollout is live. "
                        "They need not be registered."
                    </p>
                    <fieldset class="field field-wide" aria-describedby="edit-audience-hint">
                        <legend>"Audience"</legend>
                        <p class="hint" id="edit-audience-hint">
                            "Only units for which every condition holds and that are in every segment checked take part "
                            "in the stages; the others get the default. Empty: everybody."
                        </p>
                        <input type="hidden" name="audience_rows" value="1" />
                        <ContextFieldList />
                        <ConditionRows id="edit-audience".to_owned() constraints=audience.constraints />
                        <SegmentBoxes segments chosen=audience.segments />
                    </fieldset>
                    <div class="field field-wide">
                        <label for="edit-reason">"Reason (optional)"</label>
                        <input id="edit-reason" name="reason" type="text" maxlength="2000" />
                    </div>
                    <div class="form-actions">
                        <button type="submit" class="btn btn-primary">"Save the plan"</button>
                    </div>
                </ActionForm>
            </details>
        </section>
    }
}
