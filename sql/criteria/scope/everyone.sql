-- A full screening: everyone of the screened regions is recomputed. `scope_a` are the
-- people whose own facts (LDL history, index sample, secondary causes) are rebuilt,
-- `scope_b` those whose results (family history, scores, screening result, model score)
-- are; here both are everyone. See scope/changed.sql for the monthly case.
create or replace temp table scope_a as
select person_id from patients where region in (select unnest($regions));

create or replace temp table scope_b as
select person_id from scope_a;
