-- A table whose rows are never deleted refuses TRUNCATE too: TRUNCATE deletes every row without firing the
-- row triggers that refuse DELETE. The audit trail, the rollout timelines and import batches already had
-- such a trigger; sign-offs (a record, like the timeline), users, flags, tokens, rollouts and the
-- configuration version did not. A test (server/tests/it/append_only.rs) keeps every table that refuses
-- DELETE refusing TRUNCATE.
create trigger signoffs_no_truncate before truncate on signoffs
    for each statement execute function refuse_change('a sign-off is a record; edit the rollout to void it');
create trigger users_no_truncate before truncate on users
    for each statement execute function refuse_change('disable the users instead');
create trigger flags_no_truncate before truncate on flags
    for each statement execute function refuse_change('archive the flags instead; keys are never reused');
create trigger api_tokens_no_truncate before truncate on api_tokens
    for each statement execute function refuse_change('revoke the tokens instead; the audit trail names them');
create trigger rollouts_no_truncate before truncate on rollouts
    for each statement execute function refuse_change('rollouts are history; roll back instead');
create trigger config_state_no_truncate before truncate on config_state
    for each statement execute function refuse_change('the configuration version row is permanent');
