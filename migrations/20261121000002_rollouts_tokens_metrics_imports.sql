-- Everything built on the core: API tokens, staged rollouts (stages, allow-lists, sign-offs, timeline),
-- guardrails and the metric aggregates they read, webhooks, scheduled changes, the priority-URL import and
-- the configuration version behind the evaluation snapshot. Conventions as in 20261121000001_core.sql.

-- Tokens for applications (scope `evaluate`: one environment) and scripts (scope `admin`: acts as one user,
-- with that user's permissions and sign-off roles, audited under that user). Only the SHA-256 of the secret
-- is kept; the secret is shown once. Requests are looked up by prefix, then the hash is compared in constant
-- time. No updated_at: a token is never edited, only used and revoked.
create table api_tokens (
    id              bigint generated always as identity primary key,
    name            text not null check (length(name) between 1 and 100),
    prefix          text not null constraint api_tokens_prefix_key unique
                    constraint api_tokens_prefix_format check (prefix ~ '^[A-Za-z0-9_-]{4,32}$'),
    secret_hash     text not null constraint api_tokens_secret_hash_key unique
                    constraint api_tokens_secret_hash_format check (secret_hash ~ '^[0-9a-f]{64}$'),
    scope           text not null check (scope in ('evaluate', 'admin')),
    environment_id  bigint references environments (id),
    user_id         bigint references users (id),
    created_by      bigint references users (id),
    created_at      timestamptz not null default now(),
    last_used_at    timestamptz,  -- written at most every minute or so, not on every request
    revoked_at      timestamptz,
    expires_at      timestamptz,
    constraint api_tokens_scope_target check ((scope = 'evaluate') = (environment_id is not null)
                                              and (scope = 'admin') = (user_id is not null)),
    constraint api_tokens_expiry check (expires_at > created_at)
);
create index api_tokens_user_idx on api_tokens (user_id) where user_id is not null;
create trigger api_tokens_no_delete before delete on api_tokens
    for each row execute function refuse_change('revoke the token instead; the audit trail names it');

-- A flag's staged plan in one environment. At most one per flag and environment is live (planned, active,
-- paused); finished ones stay as history. A rolled-back rollout is finished and serves 0%; going again is a
-- new rollout, which (same flag key, same stickiness) brings back the same customers.
create table rollouts (
    id                bigint generated always as identity primary key,
    flag_id           bigint not null,
    environment_id    bigint not null,
    status            text not null default 'planned'
                      check (status in ('planned', 'active', 'paused', 'completed', 'rolled_back')),
    -- Position of the stage served. NULL means none, i.e. 0%: before the start and after a full rollback;
    -- NULL rather than -1 so that the foreign key to rollout_stages (below) holds for every other value.
    -- A rollback to an earlier stage keeps the rollout live with a lower current_stage.
    current_stage     integer check (current_stage >= 0),
    stage_entered_at  timestamptz,  -- the soak countdown starts here
    -- What customers are bucketed by: `customer_id`, `organization_id` or `attribute:<context attribute>`.
    stickiness        text not null default 'customer_id' constraint rollouts_stickiness_format
                      check (stickiness in ('customer_id', 'organization_id')
                             or stickiness ~ '^attribute:[A-Za-z0-9_.-]{1,100}$'),
    template          text check (template ~ '^[a-z0-9_-]{1,50}$'),  -- NULL for custom stages
    -- Advance by itself once soak, sign-offs and guardrails allow (issue 5).
    auto_advance      boolean not null default false,
    -- Bumped by every edit and transition; sign-offs name the version they approve (see signoffs).
    version           integer not null default 1 check (version > 0),
    created_by        bigint references users (id),
    started_at        timestamptz,
    completed_at      timestamptz,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint rollouts_flag_environment_fkey foreign key (flag_id, environment_id)
        references flag_environments (flag_id, environment_id),
    constraint rollouts_stage_entered check ((current_stage is null) = (stage_entered_at is null)),
    constraint rollouts_status_state check (case
        when status = 'planned' then current_stage is null and started_at is null
        when status in ('active', 'paused') then current_stage is not null and started_at is not null
        when status = 'completed' then started_at is not null
        else current_stage is null end),  -- rolled_back: serves 0%
    constraint rollouts_completed_at check ((status = 'completed') = (completed_at is not null))
);
create unique index rollouts_live_key on rollouts (flag_id, environment_id)
    where status in ('planned', 'active', 'paused');
create index rollouts_history_idx on rollouts (flag_id, environment_id, id desc);
create trigger rollouts_updated_at before update on rollouts
    for each row execute function set_updated_at();
create trigger rollouts_no_delete before delete on rollouts
    for each row execute function refuse_change('rollouts are history; roll back instead');

create table rollout_stages (
    id                bigint generated always as identity primary key,
    rollout_id        bigint not null references rollouts (id),
    position          integer not null check (position >= 0),
    name              text not null check (length(name) between 1 and 100),
    -- The percentage in basis points (1 = 0.01%, 10000 = 100%). An integer is exact: what was typed is what
    -- is stored and compared, with no float drift, in the unit of the bucketing's finest step.
    basis_points      integer not null constraint rollout_stages_basis_points_range
                      check (basis_points between 0 and 10000),
    -- Every one of these roles must be signed by a distinct user before the rollout enters this stage.
    required_roles    text[] not null default '{}' constraint rollout_stages_required_roles_known
                      check (required_roles <@ array['dev_lead', 'ops_oncall', 'product_owner', 'qa']),
    min_soak_seconds  integer not null default 0 check (min_soak_seconds >= 0),
    -- Verification steps and the backout command: [{"kind": "verify" | "backout", "text": "..."}].
    checklist         jsonb not null default '[]' check (jsonb_typeof(checklist) = 'array'),
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    constraint rollout_stages_rollout_id_position_key unique (rollout_id, position)
);
create trigger rollout_stages_updated_at before update on rollout_stages
    for each row execute function set_updated_at();

-- Stages are numbered 0..n-1 and their percentages never decrease, so "next" is position + 1 and whoever is
-- in at one stage is in at every later one. Checked at commit: an edit may rewrite the stages in any order.
create function rollout_stages_check_order() returns trigger
language plpgsql as $$
declare
    rid bigint := case tg_op when 'DELETE' then old.rollout_id else new.rollout_id end;
begin
    if exists (select 1
               from (select position, basis_points,
                            row_number() over w - 1 as expected, lag(basis_points) over w as previous
                     from rollout_stages where rollout_id = rid window w as (order by position)) s
               where position <> expected or basis_points < previous) then
        raise exception 'stages of rollout % must be numbered 0..n-1 with non-decreasing percentages', rid
            using errcode = 'check_violation', constraint = 'rollout_stages_order';
    end if;
    return null;
end;
$$;
create constraint trigger rollout_stages_order after insert or update or delete on rollout_stages
    deferrable initially deferred for each row execute function rollout_stages_check_order();

alter table rollouts add constraint rollouts_current_stage_fkey foreign key (id, current_stage)
    references rollout_stages (rollout_id, position) deferrable initially deferred;

-- Customers and organizations that are always in while the rollout is live, whatever the percentage.
create table rollout_allow_list (
    id               bigint generated always as identity primary key,
    rollout_id       bigint not null references rollouts (id),
    organization_id  bigint references organizations (id),
    customer_id      bigint references customers (id),
    created_by       bigint references users (id),
    created_at       timestamptz not null default now(),
    constraint rollout_allow_list_one_target check (num_nonnulls(organization_id, customer_id) = 1),
    constraint rollout_allow_list_organization_key unique (rollout_id, organization_id),
    constraint rollout_allow_list_customer_key unique (rollout_id, customer_id)
);
create index rollout_allow_list_organization_idx on rollout_allow_list (organization_id);
create index rollout_allow_list_customer_idx on rollout_allow_list (customer_id);

-- One user's decision, in one role, on the rollout entering one stage, for one version of the rollout.
-- Editing bumps rollouts.version and so voids earlier sign-offs without touching them: a sign-off counts
-- only while its rollout_version = rollouts.version. Rows are the record and never change; after a
-- rejection the rollout is edited (a new version) and signed again.
-- Left to the service layer, which knows the request: the signer holds the role, one user signs one role
-- per stage, and the person who requested the change cannot sign it.
create table signoffs (
    id               bigint generated always as identity primary key,
    rollout_id       bigint not null references rollouts (id),
    -- The position of the stage it lets the rollout enter; not a foreign key, so that the record outlives
    -- an edit that rewrites the stages (which voids it anyway).
    stage            integer not null check (stage >= 0),
    rollout_version  integer not null check (rollout_version > 0),
    role             text not null check (role in ('dev_lead', 'ops_oncall', 'product_owner', 'qa')),
    user_id          bigint not null references users (id),
    decision         text not null check (decision in ('approved', 'rejected')),
    comment          text not null default '' check (length(comment) <= 2000),
    created_at       timestamptz not null default now(),
    constraint signoffs_one_decision_key unique (rollout_id, stage, rollout_version, role, user_id)
);
create index signoffs_user_idx on signoffs (user_id, id desc);
-- Only the current version can be signed. FOR SHARE holds off a concurrent edit until this commits.
create function signoffs_check_version() returns trigger
language plpgsql as $$
begin
    perform 1 from rollouts where id = new.rollout_id and version = new.rollout_version for share;
    if not found then
        raise exception 'rollout % is not at version %', new.rollout_id, new.rollout_version
            using errcode = 'check_violation', constraint = 'signoffs_rollout_version_current';
    end if;
    return new;
end;
$$;
create trigger signoffs_check_version before insert on signoffs
    for each row execute function signoffs_check_version();
create trigger signoffs_no_change before update or delete on signoffs
    for each row execute function refuse_change('a sign-off is a record; edit the rollout to void it');

-- The rollout's timeline: who, when, from % to %, why. Append-only like audit_events (the service writes
-- both in one transaction). A transition forced past a gate (by an admin, with a written reason) is its own
-- kind (`advanced`...) with gate_overridden set, so the timeline and queries need only one flag.
create table rollout_events (
    id                 bigint generated always as identity primary key,
    rollout_id         bigint not null references rollouts (id),
    occurred_at        timestamptz not null default now(),
    kind               text not null check (kind in ('created', 'edited', 'started', 'advanced', 'paused',
                           'resumed', 'rolled_back', 'completed', 'signoff_requested', 'signoff',
                           'guardrail_breach', 'guardrail_source_down')),
    from_basis_points  integer check (from_basis_points between 0 and 10000),
    to_basis_points    integer check (to_basis_points between 0 and 10000),
    from_stage         integer check (from_stage >= 0),
    to_stage           integer check (to_stage >= 0),
    actor_kind         text not null check (actor_kind in ('user', 'token', 'system')),
    actor_user_id      bigint references users (id),
    actor_label        text not null check (length(actor_label) between 1 and 254),
    reason             text check (length(reason) <= 2000),
    -- E.g. the guardrail and the metric values that fired it, or the gates overridden.
    details            jsonb not null default '{}' check (jsonb_typeof(details) = 'object'),
    gate_overridden    boolean not null default false,
    constraint rollout_events_user_actor check ((actor_kind = 'system') = (actor_user_id is null)),
    constraint rollout_events_override_reason check (not gate_overridden or btrim(coalesce(reason, '')) <> '')
);
create index rollout_events_rollout_idx on rollout_events (rollout_id, id);
create trigger rollout_events_no_change before update or delete on rollout_events
    for each row execute function refuse_change('the rollout timeline is append-only');
create trigger rollout_events_no_truncate before truncate on rollout_events
    for each statement execute function refuse_change('the rollout timeline is append-only');

-- A guardrail belongs to a rollout and watches one stage (stage set) or every stage (stage NULL), so a
-- template can ship rollout-wide guardrails and a stage can add stricter ones.
-- Threshold units by kind: error_rate in % of requests (1 = 1%); latency_p95/p99 in ms;
-- error_rate_increase in percentage points over the baseline; latency_regression in % over the baseline's
-- p95; gauge in the gauge's own unit. A value above the threshold is a breach.
create table guardrails (
    id              bigint generated always as identity primary key,
    rollout_id      bigint not null references rollouts (id),
    stage           integer,
    kind            text not null check (kind in ('error_rate', 'latency_p95', 'latency_p99',
                        'error_rate_increase', 'latency_regression', 'gauge')),
    gauge_name      text check (gauge_name ~ '^[A-Za-z_:][A-Za-z0-9_:.-]{0,99}$'),
    threshold       numeric not null,
    -- Whole minutes, as the aggregates are per minute.
    window_seconds  integer not null check (window_seconds > 0 and window_seconds % 60 = 0),
    -- Fewer treatment requests (gauge: points) than this in the window is "insufficient data": no action.
    min_samples     integer not null check (min_samples >= 0),
    action          text not null default 'rollback' check (action in ('rollback', 'pause')),
    -- For increase/regression: the control cohort over the same window, or the window before the start.
    baseline        text check (baseline in ('control', 'pre_rollout')),
    source          text not null default 'ingest' check (source in ('ingest', 'prometheus')),
    prometheus_url  text check (prometheus_url ~ '^https?://' and length(prometheus_url) <= 2048),
    promql          text check (length(promql) between 1 and 4000),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint guardrails_stage_fkey foreign key (rollout_id, stage)
        references rollout_stages (rollout_id, position) on update cascade on delete cascade,
    constraint guardrails_gauge_name_required check ((kind = 'gauge') = (gauge_name is not null)),
    constraint guardrails_baseline_required
        check ((kind in ('error_rate_increase', 'latency_regression')) = (baseline is not null)),
    constraint guardrails_prometheus_required check ((source = 'prometheus') = (prometheus_url is not null)
                                                     and (source = 'prometheus') = (promql is not null)),
    constraint guardrails_threshold_range check (case
        when kind in ('error_rate', 'error_rate_increase') then threshold between 0 and 100
        when kind = 'gauge' then true
        else threshold > 0 end)
);
create index guardrails_rollout_idx on guardrails (rollout_id, stage);
create trigger guardrails_updated_at before update on guardrails
    for each row execute function set_updated_at();

-- The worker's latest decision per guardrail, for display; decisions that led to an action are also in
-- rollout_events. healthy_since starts the current healthy streak: auto-advance needs it to be no later
-- than rollouts.stage_entered_at ("healthy for the whole soak").
create table guardrail_evaluations (
    guardrail_id   bigint primary key references guardrails (id) on delete cascade,
    status         text not null check (status in ('healthy', 'breached', 'insufficient_data', 'source_down')),
    -- Observed value, baseline and sample counts, as the decision saw them.
    observed       jsonb not null default '{}' check (jsonb_typeof(observed) = 'object'),
    healthy_since  timestamptz,
    evaluated_at   timestamptz not null default now(),
    constraint guardrail_evaluations_healthy_since check ((status = 'healthy') = (healthy_since is not null))
);

-- Idempotency for POST /api/v1/metrics: the batch row goes in the same transaction as its aggregates, so a
-- batch sent twice (a retry after a timeout) hits metric_batches_token_id_batch_key_key and counts once.
-- Rows may be pruned after a few days; a batch resent after that would count again.
create table metric_batches (
    id            bigint generated always as identity primary key,
    token_id      bigint not null references api_tokens (id),
    batch_key     text not null check (batch_key ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    sample_count  integer not null check (sample_count >= 0),
    received_at   timestamptz not null default now(),
    constraint metric_batches_token_id_batch_key_key unique (token_id, batch_key)
);
create index metric_batches_received_idx on metric_batches (received_at);

-- Per-minute aggregates of what applications report, per flag, environment and cohort: `treatment` (flag
-- on), `control` (flag off) or `variant:<key>`. Ingest adds into the row (insert ... on conflict do update
-- set request_count = metric_minutes.request_count + excluded.request_count, ...). No updated_at: rows are
-- sums, and a week of one cohort is 10,080 rows.
-- latency_buckets holds 12 counts, NOT cumulative (so rows add element-wise and each count stands alone):
-- requests with latency in (previous bound, bound] for the bounds in ms
--   5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, +Inf.
-- Percentiles interpolate within a bucket; the thresholds users quote (p99 < 500 ms) sit on a bound.
create table metric_minutes (
    flag_id          bigint not null,
    environment_id   bigint not null,
    cohort           text not null constraint metric_minutes_cohort_format
                     check (cohort in ('treatment', 'control') or cohort ~ '^variant:\S{1,100}$'),
    minute           timestamptz not null constraint metric_minutes_minute_truncated
                     check (date_trunc('minute', minute) = minute),
    request_count    bigint not null check (request_count >= 0),
    error_count      bigint not null,
    latency_buckets  bigint[] not null constraint metric_minutes_latency_buckets_shape
                     check (array_ndims(latency_buckets) = 1 and cardinality(latency_buckets) = 12
                            and array_position(latency_buckets, null) is null and 0 <= all (latency_buckets)),
    latency_sum_ms   double precision not null default 0 check (latency_sum_ms >= 0),
    primary key (flag_id, environment_id, cohort, minute),
    constraint metric_minutes_flag_environment_fkey foreign key (flag_id, environment_id)
        references flag_environments (flag_id, environment_id),
    constraint metric_minutes_error_count_range check (error_count between 0 and request_count)
);
-- Pruning and "latest minute" checks scan by time across all flags.
create index metric_minutes_minute_idx on metric_minutes using brin (minute);

-- Per-minute aggregates of named gauges (queue lag, retries, pending jobs) for `gauge` guardrails. Most
-- gauges describe a system, not a flag, so flag_id is optional; NULLS NOT DISTINCT keeps flag-less rows
-- unique too, and the same upsert serves both.
create table gauge_minutes (
    flag_id         bigint references flags (id),
    environment_id  bigint not null references environments (id),
    name            text not null check (name ~ '^[A-Za-z_:][A-Za-z0-9_:.-]{0,99}$'),
    minute          timestamptz not null check (date_trunc('minute', minute) = minute),
    value_count     bigint not null check (value_count > 0),
    value_sum       double precision not null,
    value_max       double precision not null,
    constraint gauge_minutes_flag_id_environment_id_name_minute_key
        unique nulls not distinct (flag_id, environment_id, name, minute)
);
create index gauge_minutes_name_idx on gauge_minutes (environment_id, name, minute);

-- Outgoing notifications. The secret is the HMAC-SHA256 key that signs each delivery, so unlike passwords
-- and tokens it must be readable (a hash could not sign): it is stored as entered and never shown again.
create table webhooks (
    id          bigint generated always as identity primary key,
    name        text not null check (length(name) between 1 and 100),
    url         text not null check (url ~ '^https?://' and length(url) <= 2048),
    kind        text not null default 'generic' check (kind in ('slack', 'generic')),
    secret      text not null check (length(secret) between 16 and 256),
    events      text[] not null constraint webhooks_events_known check (cardinality(events) > 0 and events <@
                    array['rollout.started', 'rollout.advanced', 'rollout.paused', 'rollout.resumed',
                          'rollout.rolled_back', 'rollout.completed', 'signoff.requested', 'guardrail.breached',
                          'guardrail.source_down', 'schedule.failed', 'import.failed', 'flag.stale',
                          'webhook.test']),
    enabled     boolean not null default true,
    created_by  bigint references users (id),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create trigger webhooks_updated_at before update on webhooks
    for each row execute function set_updated_at();

-- One notification to one webhook and its attempts. Senders claim due rows with `for update skip locked`,
-- so any number of replicas send without sending twice; a failure schedules the next attempt with backoff
-- until the attempts run out (`failed`).
create table webhook_deliveries (
    id               bigint generated always as identity primary key,
    webhook_id       bigint not null references webhooks (id) on delete cascade,
    event            text not null check (event ~ '^[a-z_]+\.[a-z_]+$'),
    payload          jsonb not null,
    status           text not null default 'pending' check (status in ('pending', 'delivered', 'failed')),
    attempt          integer not null default 0 check (attempt >= 0),  -- attempts made so far
    next_attempt_at  timestamptz default now(),
    response_status  integer check (response_status between 100 and 599),
    last_error       text check (length(last_error) <= 2000),
    delivered_at     timestamptz,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint webhook_deliveries_next_attempt check ((status = 'pending') = (next_attempt_at is not null)),
    constraint webhook_deliveries_delivered check ((status = 'delivered') = (delivered_at is not null)),
    constraint webhook_deliveries_attempted check (status = 'pending' or attempt > 0)
);
create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at) where status = 'pending';
create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, id desc);
create trigger webhook_deliveries_updated_at before update on webhook_deliveries
    for each row execute function set_updated_at();

-- An advance, a toggle or a rollback to run at a set time (issue 7). It runs through the service layer like
-- a person, gates included; a refused change ends `failed` with the reason in result.
create table scheduled_changes (
    id              bigint generated always as identity primary key,
    flag_id         bigint not null,
    environment_id  bigint not null,
    action          text not null check (action in ('advance', 'toggle_on', 'toggle_off', 'rollback')),
    -- The stage to advance or roll back to; NULL means the next stage, or 0% for a rollback.
    to_stage        integer check (to_stage >= 0),
    run_at          timestamptz not null,
    status          text not null default 'pending' check (status in ('pending', 'done', 'failed', 'cancelled')),
    reason          text not null default '' check (length(reason) <= 2000),
    result          text check (length(result) <= 2000),
    finished_at     timestamptz,
    created_by      bigint references users (id),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint scheduled_changes_flag_environment_fkey foreign key (flag_id, environment_id)
        references flag_environments (flag_id, environment_id),
    constraint scheduled_changes_to_stage check (action in ('advance', 'rollback') or to_stage is null),
    constraint scheduled_changes_finished check ((status = 'pending') = (finished_at is null)),
    constraint scheduled_changes_failed_result check (status <> 'failed' or result is not null)
);
create index scheduled_changes_due_idx on scheduled_changes (run_at) where status = 'pending';
create index scheduled_changes_flag_idx on scheduled_changes (flag_id, environment_id, run_at desc);
create trigger scheduled_changes_updated_at before update on scheduled_changes
    for each row execute function set_updated_at();

-- One import of priority-URL metadata into one organization (the user's "account"). The counts partition
-- the data rows read: each ends as exactly one of inserted, updated, unchanged, rejected (invalid),
-- duplicate (a later row of the file has the same URL and wins) or overflow (beyond the account's cap).
-- A dry run records what a real run would have done and writes no url_metadata.
create table url_import_batches (
    id               bigint generated always as identity primary key,
    organization_id  bigint not null references organizations (id),
    created_by       bigint references users (id),
    -- Who ran it, as shown: an email, or e.g. `cli` for a shell without a user.
    actor_label      text not null check (length(actor_label) between 1 and 254),
    file_name        text not null check (length(file_name) between 1 and 255),
    format           text not null check (format in ('csv', 'jsonl')),
    dry_run          boolean not null default false,
    status           text not null default 'running'
                     check (status in ('running', 'completed', 'failed', 'rolled_back')),
    rows_read        integer not null default 0, inserted integer not null default 0,
    updated          integer not null default 0, unchanged integer not null default 0,
    rejected         integer not null default 0, duplicates integer not null default 0,
    overflow         integer not null default 0,
    duration_ms      integer check (duration_ms >= 0),
    error            text check (length(error) <= 2000),
    started_at       timestamptz not null default now(),
    finished_at      timestamptz,
    rolled_back_at   timestamptz,
    rolled_back_by   bigint references users (id),
    constraint url_import_batches_finished check ((status = 'running') = (finished_at is null)),
    constraint url_import_batches_failed check ((status = 'failed') = (error is not null)),
    constraint url_import_batches_rolled_back check ((status = 'rolled_back') = (rolled_back_at is not null)
                                                     and not (dry_run and status = 'rolled_back')),
    constraint url_import_batches_counts_positive
        check (least(rows_read, inserted, updated, unchanged, rejected, duplicates, overflow) >= 0),
    constraint url_import_batches_counts check (status not in ('completed', 'rolled_back')
        or rows_read = inserted + updated + unchanged + rejected + duplicates + overflow),
    -- The target of the composite foreign keys below: a row can only name a batch of its own organization.
    constraint url_import_batches_id_organization_id_key unique (id, organization_id)
);
create index url_import_batches_organization_idx on url_import_batches (organization_id, id desc);

-- The downloadable report of a batch: one row per file line that was not applied, and why.
create table url_import_report_rows (
    batch_id     bigint not null references url_import_batches (id),
    line_number  integer not null check (line_number > 0),
    kind         text not null check (kind in ('rejected', 'overflow', 'duplicate')),
    url          text not null check (length(url) <= 4096),  -- as in the file, maybe not a URL at all
    reason       text not null check (length(reason) between 1 and 500),
    primary key (batch_id, line_number)
);

-- Priority-URL metadata per organization, shown as badges while priority_urls_enabled is on for it.
-- Allowed values, documented in the app: update_priority critical > high > medium > low; page_type home,
-- category, product, article, landing, search, other.
-- url is normalized by the importer and compared bytewise (collation "C"): keyset pagination orders the same
-- on every server and `like 'prefix%'` can use the indexes. No trigram index: an account holds at most its
-- cap (60,000 by default), and an ILIKE over one account's rows scans it in ~30 ms through the indexes
-- below, while a trigram GIN index made a 60,000-row import 4-5 times slower when measured.
create table url_metadata (
    organization_id  bigint not null,
    url              text collate "C" not null constraint url_metadata_url_format
                     check (url ~ '^https?://' and length(url) <= 2048),
    update_priority  text not null check (update_priority in ('critical', 'high', 'medium', 'low')),
    page_type        text not null
                     check (page_type in ('home', 'category', 'product', 'article', 'landing', 'search', 'other')),
    -- The batch that last inserted or changed this row (an unchanged row keeps its batch).
    batch_id         bigint not null,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (organization_id, url),
    -- Implies the organization exists, with one check per row instead of two (60,000 rows per import).
    constraint url_metadata_batch_fkey foreign key (batch_id, organization_id)
        references url_import_batches (id, organization_id)
);
create index url_metadata_priority_idx on url_metadata (organization_id, update_priority, url);
create index url_metadata_page_type_idx on url_metadata (organization_id, page_type, url);
create index url_metadata_batch_idx on url_metadata (batch_id);
create trigger url_metadata_updated_at before update on url_metadata
    for each row execute function set_updated_at();

-- What each batch replaced, so that rolling it back restores the previous values exactly and removes the
-- URLs it added: one row per URL the batch inserted (existed = false) or changed (existed = true, with the
-- values before). A rollback is refused while any of these URLs was since written by another batch
-- (url_metadata.batch_id <> this batch).
create table url_metadata_history (
    batch_id            bigint not null,
    organization_id     bigint not null,
    url                 text collate "C" not null,
    existed             boolean not null,
    previous_priority   text,
    previous_page_type  text,
    previous_batch_id   bigint,
    primary key (batch_id, url),
    constraint url_metadata_history_batch_fkey foreign key (batch_id, organization_id)
        references url_import_batches (id, organization_id),
    constraint url_metadata_history_previous_batch_fkey foreign key (previous_batch_id, organization_id)
        references url_import_batches (id, organization_id),
    constraint url_metadata_history_previous check (case when existed
        then num_nonnulls(previous_priority, previous_page_type, previous_batch_id) = 3
        else num_nulls(previous_priority, previous_page_type, previous_batch_id) = 3 end)
);

-- One version for the whole evaluation configuration. Every write that changes what evaluation answers ends,
-- in its transaction, with `update config_state set version = version + 1 returning version` and the usual
-- `pg_notify('rollgate_config', ...)` (whose payload can carry the version). The row lock orders those
-- writers, so versions commit in increasing order, which a sequence would not guarantee (its values are
-- taken before commit). A snapshot built in one repeatable-read transaction that reads config_state knows
-- its version; listeners rebuild when notified of a newer one, and poll it in case a notification was lost.
create table config_state (
    id          boolean primary key default true constraint config_state_single_row check (id),
    version     bigint not null check (version > 0),
    changed_at  timestamptz not null default now()
);
insert into config_state (version) values (1);
create function config_state_advance() returns trigger
language plpgsql as $$
begin
    if new.version <= old.version then
        raise exception 'the configuration version only increases (% -> %)', old.version, new.version
            using errcode = 'check_violation', constraint = 'config_state_version_increases';
    end if;
    new.changed_at := now();
    return new;
end;
$$;
create trigger config_state_advance before update on config_state
    for each row execute function config_state_advance();
create trigger config_state_no_delete before delete on config_state
    for each row execute function refuse_change('the configuration version row is permanent');
