-- A team sets Rollgate up through the product: environments and phases are managed (not seeded), the
-- first admin arrives through a one-time set-up link, and admins invite people with one-time
-- set-password links.

-- Environments are archived, never deleted, and their key never changes: a key stays reserved for good,
-- so an old evaluate token, audit event or exported file can never come to mean another environment.
alter table environments
    add column archived_at timestamptz,
    add column updated_at  timestamptz not null default now();
create trigger environments_updated_at before update on environments
    for each row execute function set_updated_at();
create trigger environments_no_delete before delete on environments
    for each row execute function refuse_change('archive the environment instead; keys are never reused');
create function environments_key_immutable() returns trigger
language plpgsql as $$
begin
    if new.key <> old.key then
        raise exception 'an environment key never changes (% -> %)', old.key, new.key using errcode = 'raise_exception';
    end if;
    return new;
end;
$$;
create trigger environments_key_immutable before update of key on environments
    for each row execute function environments_key_immutable();

-- Display order: reordering moves every row past the largest position, then into its new place, so the
-- immediate uniqueness check never sees two rows on one position. (A deferrable constraint would do the
-- same, but ON CONFLICT cannot use one as its arbiter.) Positions are never negative.
alter table environments add constraint environments_position_nonnegative check (position >= 0);
alter table phases add constraint phases_position_nonnegative check (position >= 0);

-- Phases are edited from the flag manager by several people: edits carry the version they were based on.
alter table phases add column version integer not null default 1 check (version > 0);

-- The one-time links that create the first admin on an empty database. Only a SHA-256 of the token is
-- stored; the token itself is printed once, by the server process that made it.
create table setup_tokens (
    id          bigint generated always as identity primary key,
    token_hash  text not null constraint setup_tokens_hash_key unique check (token_hash ~ '^[0-9a-f]{64}$'),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);

-- An invited user has no password until they follow their set-password link; a forced reset clears it
-- again. A null hash never matches (sign-in compares against a dummy hash, taking the same time).
alter table users alter column password_hash drop not null;
alter table users
    -- Bumped to end every session of the user at once (disabling, a reset, a password change): a session
    -- remembers the epoch it was opened at and is refused once the user's epoch has moved on.
    add column session_epoch integer not null default 0 check (session_epoch >= 0),
    add column last_login_at timestamptz;

-- One-time links to set a password: an invitation for a new user, or a reset an admin forced. Only a
-- SHA-256 of the token is stored. A new link for a user voids the ones before it.
create table password_links (
    id          bigint generated always as identity primary key,
    user_id     bigint not null references users (id),
    token_hash  text not null constraint password_links_hash_key unique check (token_hash ~ '^[0-9a-f]{64}$'),
    purpose     text not null check (purpose in ('invite', 'reset')),
    created_by  bigint references users (id),
    created_at  timestamptz not null default now(),
    expires_at  timestamptz not null,
    used_at     timestamptz
);
create index password_links_user_idx on password_links (user_id) where used_at is null;
