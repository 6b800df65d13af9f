-- A guardrail's window never reaches back before its rollout's start, to the instant. Per-minute rows alone
-- cannot keep that promise: a rollout started at 10:04:40 would inherit the requests of 10:04:00-10:04:40,
-- which belong to the rollout before it (or to no rollout), and healthy traffic from before the start could
-- as well dilute a bad start.
--
-- So a minute in which a rollout starts is kept in parts. `part_start` is where a row's part of its minute
-- begins: the minute itself, or the start of a rollout within it. Ingest puts each sample (by its `at`) in
-- the part that holds it; a flag's rows are cut at that flag's rollout starts, and gauges that name no flag
-- at every rollout start of their environment. A rollout's window reads the parts with
-- `part_start >= started_at`; the pre-rollout baseline the parts with `part_start < started_at`.
-- Rows written before this migration cover their whole minute.

alter table metric_minutes add column part_start timestamptz;
update metric_minutes set part_start = minute;
alter table metric_minutes
    alter column part_start set not null,
    add constraint metric_minutes_part_start_within_minute
        check (part_start >= minute and part_start < minute + interval '1 minute'),
    drop constraint metric_minutes_pkey,
    add constraint metric_minutes_pkey primary key (flag_id, environment_id, cohort, minute, part_start);

alter table gauge_minutes add column part_start timestamptz;
update gauge_minutes set part_start = minute;
alter table gauge_minutes
    alter column part_start set not null,
    add constraint gauge_minutes_part_start_within_minute
        check (part_start >= minute and part_start < minute + interval '1 minute'),
    drop constraint gauge_minutes_flag_id_environment_id_name_minute_key,
    add constraint gauge_minutes_flag_id_environment_id_name_minute_part_start_key
        unique nulls not distinct (flag_id, environment_id, name, minute, part_start);
