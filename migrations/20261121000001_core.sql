-- Core of the domain: environments, phases, flags and their per-environment state, the targets
-- (organizations, customers) and their overrides, users, sessions, login throttling and the audit trail.
--
-- Conventions used in every migration:
-- * enumerations are `text` with a check constraint: adding a value is a one-line migration and sqlx maps
--   them to Rust enums through `FromStr` at the edge, with no custom Postgres types to keep in sync;
-- * keys that people and applications type (flag keys, environment keys...) are validated here as well as
--   in the domain types, so a row inserted by hand cannot break the evaluator;
-- * every mutable row has `created_at` / `updated_at`, the latter kept by `set_updated_at()`;
-- * rows that carry a `version` are edited with optimistic concurrency (`where version = $expected`).

create function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

-- Refuses a statement outright; used to make tables append-only or rows undeletable.
create function refuse_change() returns trigger
language plpgsql as $$
begin
    raise exception '% on % is not allowed: %', tg_op, tg_table_name, tg_argv[0]
        using errcode = 'raise_exception';
end;
$$;

create table environments (
    id          bigint generated always as identity primary key,
    key         text not null constraint environments_key_key unique
                constraint environments_key_format check (key ~ '^[a-z0-9][a-z0-9_-]{0,49}$'),
    name        text not null check (length(name) between 1 and 100),
    -- Display order (development, staging, production).
    position    integer not null constraint environments_position_key unique,
    created_at  timestamptz not null default now()
);

create table phases (
    id                bigint generated always as identity primary key,
    key               text not null constraint phases_key_key unique
                      constraint phases_key_format check (key ~ '^[a-z0-9][a-z0-9_.-]{0,99}$'),
    name              text not null check (length(name) between 1 and 200),
    description       text not null default '' check (length(description) <= 2000),
    position          integer not null constraint phases_position_key unique,
    -- When true, no flag of this phase may advance past 0% in an environment until every flag of the
    -- phase just before it (by position) is fully rolled out there.
    requires_previous boolean not null default false,
    created_at        timestamptz not null default now(),
    updated_at        timestamptz not null default now()
);
create trigger phases_updated_at before update on phases
    for each row execute function set_updated_at();

create table users (
    id             bigint generated always as identity primary key,
    email          text not null check (email ~ '^[^@\s]+@[^@\s]+$' and length(email) <= 254),
    name           text not null check (length(name) between 1 and 200),
    role           text not null check (role in ('viewer', 'editor', 'admin')),
    -- Only argon2id PHC strings: a plain or weaker hash can never be stored by mistake.
    password_hash  text not null check (password_hash like '$argon2id$%'),
    disabled       boolean not null default false,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
-- Emails compare case-insensitively: Alice@x and alice@x are one account.
create unique index users_email_key on users (lower(email));
create trigger users_updated_at before update on users
    for each row execute function set_updated_at();
-- Users are disabled, never deleted: the audit trail keeps pointing at them.
create trigger users_no_delete before delete on users
    for each row execute function refuse_change('disable the user instead');

create table user_signoff_roles (
    user_id  bigint not null references users (id),
    role     text not null check (role in ('dev_lead', 'ops_oncall', 'product_owner', 'qa')),
    primary key (user_id, role)
);

create table flags (
    id           bigint generated always as identity primary key,
    -- Unique across archived flags too, and never changed: a key is never reused.
    key          text not null constraint flags_key_key unique
                 constraint flags_key_format check (key ~ '^[A-Za-z0-9_.-]{1,100}$'),
    name         text not null check (length(name) between 1 and 200),
    description  text not null default '' check (length(description) <= 2000),
    phase_id     bigint references phases (id),
    kind         text not null default 'release'
                 check (kind in ('release', 'operational', 'kill_switch', 'experiment', 'permission')),
    value_type   text not null default 'boolean' check (value_type in ('boolean', 'string', 'number', 'json')),
    -- Weighted variants for non-boolean flags: [{"key": "...", "value": ..., "weight": n}].
    variants     jsonb not null default '[]' check (jsonb_typeof(variants) = 'array'),
    owner        text check (length(owner) <= 200),
    tags         text[] not null default '{}',
    archived_at  timestamptz,
    version      integer not null default 1 check (version > 0),
    created_by   bigint references users (id),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
create index flags_phase_idx on flags (phase_id, key);
-- Substring search (ILIKE) over key, name and description for the flag list, served by a trigram index.
create extension if not exists pg_trgm;
create index flags_search_idx on flags using gin ((key || ' ' || name || ' ' || description) gin_trgm_ops);
create trigger flags_updated_at before update on flags
    for each row execute function set_updated_at();
create trigger flags_no_delete before delete on flags
    for each row execute function refuse_change('archive the flag instead; keys are never reused');
create function flags_key_immutable() returns trigger
language plpgsql as $$
begin
    if new.key <> old.key then
        raise exception 'a flag key never changes (% -> %)', old.key, new.key using errcode = 'raise_exception';
    end if;
    return new;
end;
$$;
create trigger flags_key_immutable before update of key on flags
    for each row execute function flags_key_immutable();

-- A flag's state in one environment. `enabled = false` is the kill switch: evaluation answers DISABLED
-- before looking at overrides or rollouts.
create table flag_environments (
    flag_id         bigint not null references flags (id),
    environment_id  bigint not null references environments (id),
    enabled         boolean not null default false,
    -- Served when the flag is on and no override, allow-list or rollout applies.
    default_value   jsonb not null default 'true',
    version         integer not null default 1 check (version > 0),
    updated_by      bigint references users (id),
    updated_at      timestamptz not null default now(),
    primary key (flag_id, environment_id)
);
create index flag_environments_env_idx on flag_environments (environment_id, enabled);
create trigger flag_environments_updated_at before update on flag_environments
    for each row execute function set_updated_at();

create table organizations (
    id          bigint generated always as identity primary key,
    key         text not null constraint organizations_key_key unique
                constraint organizations_key_format check (key ~ '^[A-Za-z0-9_.:-]{1,100}$'),
    name        text not null check (length(name) between 1 and 200),
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create trigger organizations_updated_at before update on organizations
    for each row execute function set_updated_at();

create table customers (
    id               bigint generated always as identity primary key,
    -- The application's own customer id: the default stickiness value for bucketing.
    key              text not null constraint customers_key_key unique
                     constraint customers_key_format check (key ~ '^[A-Za-z0-9_.:@-]{1,200}$'),
    organization_id  bigint not null references organizations (id),
    name             text not null default '' check (length(name) <= 200),
    attributes       jsonb not null default '{}' check (jsonb_typeof(attributes) = 'object'),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now()
);
create index customers_organization_idx on customers (organization_id);
create trigger customers_updated_at before update on customers
    for each row execute function set_updated_at();

-- Forces a value for one organization or one customer (exactly one of the two), in one environment.
create table overrides (
    id               bigint generated always as identity primary key,
    flag_id          bigint not null references flags (id),
    environment_id   bigint not null references environments (id),
    organization_id  bigint references organizations (id),
    customer_id      bigint references customers (id),
    value            jsonb not null,
    reason           text not null default '' check (length(reason) <= 2000),
    created_by       bigint references users (id),
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    constraint overrides_one_target check (num_nonnulls(organization_id, customer_id) = 1),
    constraint overrides_organization_key unique (flag_id, environment_id, organization_id),
    constraint overrides_customer_key unique (flag_id, environment_id, customer_id)
);
create index overrides_organization_idx on overrides (organization_id);
create index overrides_customer_idx on overrides (customer_id);
create trigger overrides_updated_at before update on overrides
    for each row execute function set_updated_at();

-- The audit trail: who did what, when, to which entity, before and after, and why. Append-only: the
-- triggers below refuse UPDATE, DELETE and TRUNCATE, whoever asks.
create table audit_events (
    id              bigint generated always as identity primary key,
    occurred_at     timestamptz not null default now(),
    actor_kind      text not null check (actor_kind in ('user', 'token', 'system')),
    actor_user_id   bigint references users (id),
    -- The actor as shown: an email, or `system:guardrail` and the like.
    actor_label     text not null check (length(actor_label) between 1 and 254),
    action          text not null check (action ~ '^[a-z_]+\.[a-z_]+$'),
    entity_kind     text not null check (length(entity_kind) between 1 and 50),
    entity_key      text not null check (length(entity_key) between 1 and 300),
    flag_key        text,
    environment_key text,
    before          jsonb,
    after           jsonb,
    reason          text check (length(reason) <= 2000),
    constraint audit_events_user_actor check ((actor_kind = 'system') = (actor_user_id is null))
);
-- Lists page newest first by id (identity order is commit order closely enough for display, and unique).
create index audit_events_occurred_idx on audit_events (occurred_at desc);
create index audit_events_flag_idx on audit_events (flag_key, id desc) where flag_key is not null;
create index audit_events_actor_idx on audit_events (actor_label, id desc);
create index audit_events_action_idx on audit_events (action, id desc);
create trigger audit_events_no_update before update on audit_events
    for each row execute function refuse_change('the audit trail is append-only');
create trigger audit_events_no_delete before delete on audit_events
    for each row execute function refuse_change('the audit trail is append-only');
create trigger audit_events_no_truncate before truncate on audit_events
    for each statement execute function refuse_change('the audit trail is append-only');

-- Sessions, in the layout tower-sessions-sqlx-store expects (its schema and table names).
create schema if not exists tower_sessions;
create table tower_sessions.session (
    id           text primary key not null,
    data         bytea not null,
    expiry_date  timestamptz not null
);
create index session_expiry_idx on tower_sessions.session (expiry_date);

-- Failed logins per key (`account:<email>` or `ip:<address>`) in a fixed window. In Postgres rather than
-- in memory so that every replica behind a load balancer counts the same failures.
create table login_throttle (
    key                text primary key check (length(key) <= 300),
    failures           integer not null check (failures >= 0),
    window_started_at  timestamptz not null
);
