-- Priority-URL imports within the issue's second for 60,000 rows on 2 cores (server/benches/priority_urls.rs).
--
-- url_metadata's foreign key to url_import_batches ran one check per row: a query and a row lock for each
-- of the 60,000 rows an import writes, about a third of writing them, although every row of one statement
-- names the same batch. The guarantee stays in the database, checked once per statement instead:
--  * after every insert into or update of url_metadata, one set-based query checks that each distinct
--    (batch_id, organization_id) of the rows written names a batch of that organization, and takes the
--    same FOR KEY SHARE lock on those batches that the foreign key took;
--  * the referenced side cannot go away: a batch is a record (who imported what, and its report), so it can
--    be neither deleted nor moved to another organization (its id is generated always), which is what the
--    foreign key's NO ACTION protected against, now without exceptions.
-- The history's foreign keys stay: a first import writes no history rows.
alter table url_metadata drop constraint url_metadata_batch_fkey;

create function url_metadata_check_batches() returns trigger
language plpgsql as $$
declare
    missing record;
begin
    -- Rows of one statement name one batch (an import) or a few (a rollback restoring earlier ones).
    perform 1 from url_import_batches b
    where (b.id, b.organization_id) in (select distinct n.batch_id, n.organization_id from new_rows n)
    for key share of b;
    select n.batch_id, n.organization_id into missing
    from (select distinct batch_id, organization_id from new_rows) n
    where not exists (select 1 from url_import_batches b where b.id = n.batch_id and b.organization_id = n.organization_id)
    limit 1;
    if found then
        raise exception 'insert or update on table "url_metadata" violates foreign key constraint "url_metadata_batch_fkey"'
            using errcode = 'foreign_key_violation', constraint = 'url_metadata_batch_fkey', table = 'url_metadata',
                  detail = format('Key (batch_id, organization_id)=(%s, %s) is not present in table "url_import_batches".',
                                  missing.batch_id, missing.organization_id);
    end if;
    return null;
end;
$$;
-- A trigger with transition tables takes one event.
create trigger url_metadata_batch_check_insert after insert on url_metadata
    referencing new table as new_rows for each statement execute function url_metadata_check_batches();
create trigger url_metadata_batch_check_update after update on url_metadata
    referencing new table as new_rows for each statement execute function url_metadata_check_batches();

create trigger url_import_batches_no_delete before delete on url_import_batches
    for each row execute function refuse_change('an import batch is a record; roll it back instead');
create trigger url_import_batches_no_truncate before truncate on url_import_batches
    for each statement execute function refuse_change('an import batch is a record; roll it back instead');
create trigger url_import_batches_keep_organization before update of organization_id on url_import_batches
    for each row when (old.organization_id <> new.organization_id)
    execute function refuse_change('an import batch stays with its organization');
