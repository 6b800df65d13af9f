-- When an application last asked for a flag (in any environment, archived or not), for flag hygiene: an
-- archived flag still asked for is stale. Written by the server's evaluation-activity worker about once a
-- minute from in-memory marks, never on the evaluation path, so it lags by up to that interval.
alter table flags add column last_evaluated_at timestamptz;

-- That write is not a change of the flag: updated_at (which flag hygiene reads as "last touched") moves
-- only when a column people edit changes.
drop trigger flags_updated_at on flags;
create trigger flags_updated_at before update of key, name, description, phase_id, kind, value_type, variants,
        owner, tags, archived_at, version on flags
    for each row execute function set_updated_at();
