-- A rollout's audience: only units it holds for take part in the staged percentages; the others get the
-- default, so "10% of the beta segment" is one rollout with one set of gates and sign-offs.
--
-- Stored as the JSON the domain reads and writes (`Condition` in app/src/domain/targeting: constraints and
-- segment keys), like a targeting rule's condition. Null is everybody, which every rollout written before
-- audiences existed means. The service layer compiles an audience against the stored segments before it
-- is written, and a segment an audience names cannot be deleted while that rollout decides answers.
alter table rollouts
    add column audience jsonb
        constraint rollouts_audience_object check (audience is null or jsonb_typeof(audience) = 'object');
