-- The people whose results are recomputed in an incremental screening (`scope_b`): those
-- whose own facts were rebuilt (`scope_a`), those whose index LDL now falls on the other
-- side of its band's 95th percentile (the percentiles move a little with every month of
-- data; previous ones in `ldl_percentiles`), and everyone who has one of these as a
-- first- or second-degree relative (their family history, scores and model features read
-- the relatives' facts). Links are followed from either end, a superset of the relations
-- the family history uses: recomputing a few people too many changes nothing.
create or replace temp table scope_b as
with flipped as (
    select i.person_id
    from index_ldl i
    join int_ldl_percentiles n on n.sex = i.sex and i.age_at_index between n.from_age and n.to_age
    left join ldl_percentiles o on o.sex = i.sex and i.age_at_index between o.from_age and o.to_age
    where (i.index_untreated_ldl > n.p95) is distinct from (i.index_untreated_ldl > o.p95)
),
seeds as (
    select person_id from scope_a
    union
    select person_id from flipped
),
links as (
    select person_id, relative_id from relations
    union all
    select relative_id, person_id from relations
),
hop1 as (
    select distinct person_id from links where relative_id in (select person_id from seeds)
),
hop2 as (
    select distinct person_id from links where relative_id in (select person_id from hop1)
),
everyone as (
    select person_id from seeds
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
