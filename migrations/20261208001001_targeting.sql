-- Targeting: segments, and a flag's rules and prerequisites per environment.
--
-- Constraints, rules and prerequisites are stored as the JSON the domain reads and writes
-- (app/src/domain/targeting): one document per flag and environment, replaced as a whole by an edit that
-- names the version it saw, so an edit, its audit event and the snapshot always agree on the whole list.
-- The service layer checks every document before it is written (operators, values, expressions, address
-- ranges, segments and flags named, cycles); the snapshot compiles them.

-- A named, reusable AND of constraints. Its key is how rules and files name it, and never changes.
create table segments (
    id           bigint generated always as identity primary key,
    key          text not null
                 constraint segments_key_format check (key ~ '^[A-Za-z0-9_.-]{1,100}$'),
    name         text not null check (length(name) between 1 and 200),
    description  text not null default '' check (length(description) <= 2000),
    constraints  jsonb not null default '[]' check (jsonb_typeof(constraints) = 'array'),
    version      integer not null default 1 check (version > 0),
    created_by   bigint references users (id),
    updated_by   bigint references users (id),
    created_at   timestamptz not null default now(),
    updated_at   timestamptz not null default now()
);
-- Unique regardless of case: `beta` and `Beta` would be two segments nobody can tell apart.
create unique index segments_key_unique on segments (lower(key));
create trigger segments_updated_at before update on segments
    for each row execute function set_updated_at();

-- A flag's targeting in one environment: its rules in order, its prerequisites, and their version (apart
-- from the on/off version, so a toggle and a rule edit never conflict).
alter table flag_environments
    add column rules jsonb not null default '[]' check (jsonb_typeof(rules) = 'array'),
    add column prerequisites jsonb not null default '[]' check (jsonb_typeof(prerequisites) = 'array'),
    add column targeting_version integer not null default 1 check (targeting_version > 0);
