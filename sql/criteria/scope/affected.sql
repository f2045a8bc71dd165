-- The people whose results are recomputed in an incremental screening (`scope_b`), run
-- after 07_person_facts and before its facts replace the stored ones:
--   everyone in `scope_a` (their own data changed);
--   and the first- and second-degree relatives (links followed from either end, a
--   superset of what the family history uses) of the seeds: people in `scope_a` whose
--   facts for their relatives changed; people whose index LDL now falls on the other
--   side of its band's 95th percentile (the percentiles move a little with every month);
--   and both people of every new family link.
-- Recomputing a few people too many changes nothing; tests/test_incremental.py checks
-- that the result equals a full screening.
create or replace temp table facts_changed as
select n.person_id
from int_person_facts n
left join person_facts o using (person_id)
where o.person_id is null
   or n.premature_chd is distinct from o.premature_chd
   or n.first_mi_age is distinct from o.first_mi_age
   or n.age_at_index is distinct from o.age_at_index
   or n.ldl_above_p95 is distinct from o.ldl_above_p95
   or n.has_ldl_history is distinct from o.has_ldl_history
   or n.untreated_ldl is distinct from o.untreated_ldl
   or n.tc_adult is distinct from o.tc_adult
   or n.tc_child is distinct from o.tc_child
   or n.known_fh is distinct from o.known_fh;

-- People whose facts were not rebuilt and whose stored flag the new percentiles contradict; their stored
-- flag is corrected, so it always says what the last screening used.
create or replace temp table percentile_flips as
select f.person_id
from person_facts f
join index_ldl i using (person_id)
join int_ldl_p95_by_age n on n.sex = i.sex and n.age = i.age_at_index
where f.person_id not in (select person_id from scope_facts)
  and (i.index_untreated_ldl > n.p95) is distinct from f.ldl_above_p95;

update person_facts set ldl_above_p95 = not ldl_above_p95
where person_id in (select person_id from percentile_flips);

create or replace temp table scope_b as
with seeds as (
    select person_id from facts_changed
    union
    select person_id from percentile_flips
    union
    select person_id from relations
    where source_file in (select path from ingested_files where ingested_at > $ingested_upto)
    union
    select relative_id from relations
    where source_file in (select path from ingested_files where ingested_at > $ingested_upto)
),
-- Each hop reads `relations` once: the links touching the previous set, both ends (the
-- previous set itself comes back too, which changes nothing).
hop1 as (
    select distinct unnest([person_id, relative_id]) as person_id
    from relations
    where person_id in (select person_id from seeds)
       or relative_id in (select person_id from seeds)
),
hop2 as (
    select distinct unnest([person_id, relative_id]) as person_id
    from relations
    where person_id in (select person_id from hop1)
       or relative_id in (select person_id from hop1)
),
everyone as (
    select person_id from scope_a
    union select person_id from seeds
    union select person_id from hop1
    union select person_id from hop2
)
select e.person_id
from everyone e
join patients p using (person_id)
where p.region in (select unnest($regions));

-- People not recomputed keep their results, which now hold for the later as-of date:
-- nothing they depend on changed. Their age today moves on.
update screening_results
set as_of = $as_of, age_now = date_sub('year', birth_date, $as_of)
where person_id not in (select person_id from scope_b);

update model_scores
set as_of = $as_of
where region in (select unnest($regions)) and person_id not in (select person_id from scope_b);
