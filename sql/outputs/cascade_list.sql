-- Family cascade-testing list: first-degree relatives (config [cascade] relations) of
-- index cases. Index cases: known FH (ICD-10 E78.0), a positive genetic test, or referred
-- by this run's rules. Relatives already known to have FH are listed but ranked last.
-- Grouped per lipid clinic of the index case. Clinician-facing (vault).
with index_cases as (
    select person_id, lipid_clinic_id, gp_practice_id, region,
           case when genetic_positive then 'genetic test positive'
                when known_fh then 'diagnosed FH (E78.0)'
                else 'flagged by screening' end as index_basis
    from screening_results
    where known_fh or genetic_positive or referral
),
relatives as (
    select
        ic.lipid_clinic_id,
        ic.person_id as index_id,
        ic.index_basis,
        r.relative_id,
        r.relation,
        p.birth_date,
        p.sex,
        p.gp_practice_id,
        date_sub('year', p.birth_date, $as_of) as age,
        (select round(max_by(v.untreated_ldl, v.sampled_at), 1) from ldl_history v
          where v.person_id = r.relative_id) as last_untreated_ldl,
        exists (select 1 from diagnoses d where d.person_id = r.relative_id
                and d.icd10 like 'E78.0%' and d.diagnosed_at <= $as_of) as relative_known_fh,
        exists (select 1 from genetic_tests g where g.person_id = r.relative_id
                and g.tested_at <= $as_of) as relative_tested
    from index_cases ic
    join relations r on r.person_id = ic.person_id and r.relation in (select unnest($cascade_relations))
    left join patients p on p.person_id = r.relative_id
    where p.deceased_date is null or p.deceased_date > $as_of
),
final as (
    select
        rel.lipid_clinic_id,
        ii.cpr[1:6] || '-' || ii.cpr[7:10] as index_cpr,
        rel.index_basis,
        ri.cpr[1:6] || '-' || ri.cpr[7:10] as relative_cpr,
        rel.relation,
        rel.age,
        rel.sex,
        rel.gp_practice_id,
        rel.last_untreated_ldl,
        rel.relative_known_fh as already_diagnosed,
        rel.relative_tested as already_tested,
        case
            when rel.relative_known_fh or rel.relative_tested then 3
            when rel.age is not null and rel.age < $cascade_paediatric_test_by_age then 1
            else 2
        end as priority,
        case
            when rel.relative_known_fh then 'already diagnosed'
            when rel.relative_tested then 'already tested'
            when rel.age is not null and rel.age < $cascade_paediatric_test_by_age
                then printf('child: test by age %d (NICE)', $cascade_paediatric_test_by_age)
            else 'untested first-degree relative'
        end as note,
        rel.index_id,
        rel.relative_id
    from relatives rel
    join vault.identity ii on ii.person_id = rel.index_id
    join vault.identity ri on ri.person_id = rel.relative_id
)
select * from final
order by lipid_clinic_id, index_id, priority, relation, relative_id;
