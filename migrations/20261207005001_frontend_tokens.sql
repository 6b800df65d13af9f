-- Browser and mobile apps evaluate flags with a `frontend` token: public by design (it ships inside a page
-- or an app bundle), so it evaluates only the flags marked visible to frontends, in one environment, from
-- the origins it lists, at a bounded rate.

alter table api_tokens drop constraint api_tokens_scope_check;
alter table api_tokens add constraint api_tokens_scope_check check (scope in ('evaluate', 'admin', 'frontend'));
alter table api_tokens drop constraint api_tokens_scope_target;
alter table api_tokens add constraint api_tokens_scope_target
    check ((scope in ('evaluate', 'frontend')) = (environment_id is not null) and (scope = 'admin') = (user_id is not null));

alter table api_tokens
    -- The web origins (`https://app.example`, or `*` when someone typed it) whose pages may use the token:
    -- what CORS lets through. Empty for a frontend token used only by native apps, which send no Origin.
    -- Each is checked where tokens are made (`AllowedOrigin` in the domain).
    add column allowed_origins text[] not null default '{}'
        constraint api_tokens_allowed_origins_format
        check (array_position(allowed_origins, null) is null and cardinality(allowed_origins) <= 50),
    -- Requests per second per server process, for frontend tokens (a public token is public).
    add column rate_limit_per_second integer
        constraint api_tokens_rate_limit_range check (rate_limit_per_second between 1 and 100000),
    add constraint api_tokens_frontend_settings
        check ((scope = 'frontend') = (rate_limit_per_second is not null)
               and (scope = 'frontend' or cardinality(allowed_origins) = 0));

-- Off by default: a flag's key, and what it serves, reach a browser only when someone chose so.
alter table flags add column visible_to_frontends boolean not null default false;
