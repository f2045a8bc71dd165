-- What each person contributes to their relatives' results: the facts that
-- 08_family_history reads of a relative (premature CHD, MI age, index LDL above the 95th
-- percentile for sex and age band, untreated total cholesterol as adult and as child,
-- known FH) and that the model's features read (the untreated-LDL estimate, any LDL at all).
-- For the people in `scope_facts`; kept in the store as `person_facts` (merged by
-- fh_screening/criteria.py), so that a monthly screening rescores a family only when a
-- member's facts changed (scope/affected.sql), not whenever a member had a new sample.
create or replace table int_person_facts as
with own_ldl as (
    select
        person_id,
        max(total_chol) filter (where not treated and age_at_sample >= $simon_broome_adult_from_age)
            as tc_adult,
        max(total_chol) filter (where not treated and age_at_sample < $simon_broome_adult_from_age)
            as tc_child
    from ldl_history
    where person_id in (select person_id from scope_facts)
    group by person_id
)
select
    s.person_id,
    coalesce(v.premature_chd, false) as premature_chd,
    v.first_mi_age,
    i.age_at_index,
    coalesce(i.index_untreated_ldl > pct.p95, false) as ldl_above_p95,
    o.person_id is not null as has_ldl_history,
    i.index_untreated_ldl as untreated_ldl,
    o.tc_adult,
    o.tc_child,
    exists (select 1 from diagnoses d where d.person_id = s.person_id
            and d.icd10 like 'E78.0%' and d.diagnosed_at <= $as_of)
    or exists (select 1 from genetic_tests g where g.person_id = s.person_id
               and g.result = 'positive' and g.tested_at <= $as_of) as known_fh
from scope_facts s
left join int_vascular_history v on v.person_id = s.person_id
left join index_ldl i on i.person_id = s.person_id
left join int_ldl_p95_by_age pct on pct.sex = i.sex and pct.age = i.age_at_index
left join own_ldl o on o.person_id = s.person_id;
