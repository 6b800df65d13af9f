-- Which flags have been announced stale (the `flag.stale` webhook), so each is announced once per stale
-- spell: the row goes when the flag stops being stale, and a later spell announces again. A table of its
-- own rather than a column of flags, so that recording a notice never counts as touching the flag.
create table flag_stale_notices (
    flag_id      bigint primary key references flags (id) on delete cascade,
    reason       text not null check (length(reason) between 1 and 500),
    notified_at  timestamptz not null default now()
);
