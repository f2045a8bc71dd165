-- An incremental screening (the same regions, rules and model as the last one, a later
-- or equal as-of date). `changed_people`: everyone, of any region, whose own data may have
-- changed since:
--   rows from files ingested after the last screening ($ingested_upto), in any table
--   (both people of a new family link; everyone of a practice whose clinic changed);
--   events that the later as-of date lets in: samples, prescriptions, diagnoses, tests
--   and deaths dated after the last as-of date ($previous_as_of).
-- `scope_a`: those of them in the screened regions, whose LDL history, index sample and
-- secondary causes are rebuilt; `scope_facts`: all of them, whose facts for their
-- relatives are. Everything else about a person depends only on
-- these rows, on relatives' facts and on the LDL percentiles (scope/affected.sql).
create or replace temp table changed_people as
with new_files as (
    select path from ingested_files where ingested_at > $ingested_upto
),
changed as (
    select person_id from lab_results
    where source_file in (select path from new_files) or cast(sampled_at as date) > $previous_as_of
    union
    select person_id from prescriptions
    where source_file in (select path from new_files) or start_date > $previous_as_of
    union
    select person_id from diagnoses
    where source_file in (select path from new_files) or diagnosed_at > $previous_as_of
    union
    select person_id from genetic_tests
    where source_file in (select path from new_files) or tested_at > $previous_as_of
    union
    select person_id from patients
    where source_file in (select path from new_files) or deceased_date > $previous_as_of
    union
    select person_id from relations where source_file in (select path from new_files)
    union
    select relative_id from relations where source_file in (select path from new_files)
    union
    select p.person_id from patients p
    join practices pr on pr.gp_practice_id = p.gp_practice_id and pr.region = p.region
    where pr.source_file in (select path from new_files)
)
select distinct person_id from changed;

create or replace temp table scope_a as
select c.person_id
from changed_people c
join patients p using (person_id)
where p.region in (select unnest($regions));

-- Facts for relatives (07_person_facts) are kept for everyone in the store.
create or replace temp table scope_facts as
select c.person_id from changed_people c join patients p using (person_id);
