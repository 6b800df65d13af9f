-- The approvals queue and the advance button look up a rollout's sign-off request for one stage and
-- version; a partial index keeps that a probe however long the timeline grows.
create index rollout_events_signoff_requested_idx on rollout_events (rollout_id, to_stage, id)
    where kind = 'signoff_requested';
