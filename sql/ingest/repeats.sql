-- Rows of an event table (lab results, prescriptions, diagnoses, genetic tests) that
-- repeat another row's key: the same person, time and code (`k`, per table in
-- fh_screening/ingest.py: EVENT_KEYS). What the rows say beyond the key is `v`.
--
--   in one file, the same key with the same values: a duplicate (the later rows are
--     quarantined, the first kept);
--   in one file, the same key with different values: a conflict, which cannot be resolved
--     from the file (row order is not delivery order), so every row of that key is
--     quarantined;
--   a key already stored (an earlier delivery, another file) with the same values: a
--     duplicate, quarantined;
--   a key already stored with different values: a correction. The latest delivery wins:
--     the new row is accepted and the stored one moves to `superseded_rows` with its file
--     (ingest.py), never kept beside it as a second truth.
--
-- Views made by ingest.py for the table being ingested (they take no parameters):
--   repeat_in(_row, person_id, k, v)                              this file's rows that passed every other check
--   repeat_stored_all(source_file, row_number, person_id, region, k, v)   the stored rows
-- A re-sent file (same path, new content) replaces its earlier version, so that
-- version's rows are not "stored" here.
create or replace temp table repeat_stored as
select source_file, row_number, k, v, hash(k) as kh
from repeat_stored_all
where region = $region and source_file <> $source_file
  and person_id in (select person_id from repeat_in);

create or replace temp table repeat_incoming as
select _row, k, v, hash(k) as kh from repeat_in;

-- Only keys whose hash occurs twice in the file, or in the store, are compared exactly.
create or replace temp table repeat_candidates as
select * from repeat_incoming
where kh in (select kh from repeat_incoming group by kh having count(*) > 1
             union select kh from repeat_stored);

create or replace temp table repeat_problems as
with variants as (
    select k, count(distinct v) as n from repeat_candidates group by k
),
conflicts as (
    select c._row from repeat_candidates c join variants x on x.k = c.k where x.n > 1
),
firsts as (  -- one row per key and value in this file; the others are duplicates
    select _row, k, v, row_number() over (partition by k, v order by _row) as n
    from repeat_candidates
    where _row not in (select _row from conflicts)
)
select _row, {'field': $repeat_field,
              'reason': 'conflicting values for the same ' || $repeat_key_text || ' in this file'} as problem
from conflicts
union all
select _row, {'field': $repeat_field, 'reason': 'duplicate of an earlier row'}
from firsts f
where f.n > 1
   or exists (select 1 from repeat_stored s where s.k = f.k and s.v is not distinct from f.v);

-- Stored rows a row of this file corrects (same key, other values, no stored row with
-- this row's values): they are superseded when the file commits.
create or replace temp table repeat_corrections as
select c._row, s.source_file, s.row_number
from repeat_candidates c
join repeat_stored s on s.k = c.k and s.v is distinct from c.v
where c._row not in (select _row from repeat_problems);
