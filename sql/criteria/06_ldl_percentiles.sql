-- The 95th percentile ($percentiles_percentile) of LDL by sex and age band, computed per
-- run from the screened population's index untreated LDL (one value per person, age at
-- that sample). A band with fewer than $percentiles_min_people people uses the fallback
-- table (config [percentiles.fallback], *unconfirmed*). Bands come from that table.
create or replace temp table int_ldl_percentiles as
with observed as (
    select
        b.from_age,
        b.to_age,
        i.sex,
        count(*) as people,
        quantile_cont(i.index_untreated_ldl, $percentiles_percentile) as p95
    from index_ldl i
    join percentile_fallback b on i.age_at_index between b.from_age and b.to_age
    group by b.from_age, b.to_age, i.sex
),
final as (
    select
        b.from_age,
        b.to_age,
        s.sex,
        coalesce(o.people, 0) as people,
        case when coalesce(o.people, 0) >= $percentiles_min_people then o.p95
             when s.sex = 'M' then b.m else b.f end as p95,
        case when coalesce(o.people, 0) >= $percentiles_min_people then 'population'
             else 'fallback' end as p95_source
    from percentile_fallback b
    cross join (values ('M'), ('F')) as s(sex)
    left join observed o on o.from_age = b.from_age and o.sex = s.sex
)
select * from final;

-- The same percentiles once per sex and year of age, for equality joins on a person's age
-- (07_person_facts, scope/affected): a range join on the bands compared every index
-- sample with each band of its sex.
create or replace temp table int_ldl_p95_by_age as
select sex, unnest(range(from_age, to_age + 1)) as age, p95
from int_ldl_percentiles;
