-- Priority-URL imports, made fast enough for 60,000 rows in well under a second on 2 cores (measured with
-- server/benches/priority_urls.rs): every row written per imported URL costs an index insertion per index
-- and a foreign-key check, and a first import of 60,000 URLs spent more time on the history and on an
-- unused index than on the metadata itself.

-- url_metadata_history now records only the URLs a batch changed (existed = true, with the values before).
-- The URLs a batch added need no row: they are the rows whose url_metadata.batch_id is still that batch
-- once the changed ones are restored. A newer batch that since changed one of them names this batch as its
-- previous_batch_id, which is how a rollback finds that it must wait (see app/src/server/priority_urls/
-- rollback.rs). Rows with existed = false written before this migration stay valid and are handled alike.
create index url_metadata_history_previous_idx on url_metadata_history (previous_batch_id)
    where previous_batch_id is not null;

-- No query looks rows up by batch alone (a rollback goes through the account's primary-key range), and the
-- batches it references are never deleted, so the foreign key does not need it either.
drop index url_metadata_batch_idx;
