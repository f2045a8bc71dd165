-- A full screening: everyone of the screened regions is recomputed. `scope_a` are the
-- people whose own facts (LDL history, index sample, secondary causes) are rebuilt,
-- `scope_facts` those whose facts for their relatives are (everyone in the store: a
-- relative may live in another region), `scope_b` those whose results (family history,
-- scores, screening result, model score) are. See scope/changed.sql for the monthly case.
create or replace temp table scope_a as
select person_id from patients where region in (select unnest($regions));

create or replace temp table scope_facts as
select person_id from patients;

create or replace temp table scope_b as
select person_id from scope_a;
