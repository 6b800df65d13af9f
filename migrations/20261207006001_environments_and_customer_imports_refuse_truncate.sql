-- Environments and customer import batches refuse DELETE; they refuse TRUNCATE too, which deletes every
-- row without firing row triggers (server/tests/it/append_only.rs keeps the two lists equal).
create trigger environments_no_truncate before truncate on environments
    for each statement execute function refuse_change('archive the environments instead; keys are never reused');
create trigger customer_import_batches_no_truncate before truncate on customer_import_batches
    for each statement execute function refuse_change('an import batch is a record');
