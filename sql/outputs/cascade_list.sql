-- Family cascade-testing list, one row per (index case, relative) of every index case
-- in `out_cascade_index` (sql/outputs/cascade_index.sql: confirmed FH only), with the
-- index patient's consent; fh_screening/cascade.py lists the relatives (with CPR) only of
-- families whose index patient consented, and gives every family its letter.
-- Relatives: first-degree ($cascade_relations) and second-degree, derived by two hops as
-- in sql/criteria/08_family_history.sql (grandparents, aunts/uncles, grandchildren,
-- nieces/nephews); alive on $as_of.
-- Priority: 1 untested first-degree relative, 2 untested second-degree relative,
-- 3 already referred, 4 already diagnosed or tested. The index case's children under
-- $cascade_paediatric_test_by_age are flagged for paediatric testing (NICE CG71) and
-- listed first in their priority.
-- Clinician-facing (vault).
with index_chosen as (
    select * from out_cascade_index
),
-- Only the index cases' families are walked (a national store has millions of links;
-- the lists need the few thousand families of index cases).
first_degree as (
    select distinct person_id, relative_id, relation
    from relations
    where relation in (select unnest($cascade_relations))
      and person_id in (select person_id from index_chosen)
),
hop as (
    select distinct person_id, relative_id, relation
    from relations
    where relation in (select unnest($cascade_relations))
      and person_id in (select relative_id from first_degree)
),
second_degree as (
    select distinct
        a.person_id,
        b.relative_id,
        case when a.relation in ('mother', 'father') and b.relation in ('mother', 'father')
                 then 'grandparent'
             when a.relation in ('mother', 'father') then 'aunt/uncle'
             when a.relation = 'child' then 'grandchild'
             else 'niece/nephew' end as relation
    from first_degree a
    join hop b on b.person_id = a.relative_id
    where b.relative_id <> a.person_id
      and ((a.relation in ('mother', 'father') and b.relation in ('mother', 'father', 'sibling'))
           or (a.relation = 'child' and b.relation = 'child')
           or (a.relation = 'sibling' and b.relation = 'child'))
      and not exists (select 1 from first_degree f
                      where f.person_id = a.person_id and f.relative_id = b.relative_id)
),
family as (
    select person_id, relative_id, relation, 1 as degree from first_degree
    union all
    select person_id, relative_id, relation, 2 as degree from second_degree
),
last_ldl as (
    select
        person_id,
        max(sampled_at) as last_sampled_at,
        max_by(ldl, sampled_at) as last_ldl,
        max_by(untreated_ldl, sampled_at) as last_untreated_ldl
    from ldl_history
    where ldl is not null and cast(sampled_at as date) <= $as_of
      and person_id in (select relative_id from family)
    group by person_id
),
current_drugs as (
    select distinct
        p.person_id,
        coalesce(df.name, p.atc_code)
            || coalesce(' ' || cast(p.strength_mg as integer) || ' mg', '') as drug
    from prescriptions p
    left join drug_default_reduction df on df.atc_code = p.atc_code
    where p.atc_code like 'C10%' and p.start_date <= $as_of
      and (p.end_date is null or p.end_date >= $as_of)
      and p.person_id in (select relative_id from family)
),
-- ordered by the text, so a rerun (or an incremental run) lists the same drugs in the
-- same order: without it the order followed DuckDB's threads
treatment_now as (
    select person_id, string_agg(drug, ' + ' order by drug) as treatment
    from current_drugs
    group by person_id
),
relatives as (
    select
        ic.lipid_clinic_id,
        ic.person_id as index_id,
        ic.index_basis,
        ic.consent,
        ic.gp_practice_id as index_gp_practice_id,
        f.relative_id,
        f.relation,
        f.degree,
        date_sub('year', p.birth_date, $as_of) as age,
        p.sex,
        p.gp_practice_id,
        l.last_ldl,
        cast(l.last_sampled_at as date) as last_ldl_date,
        l.last_untreated_ldl,
        tn.treatment,
        exists (select 1 from diagnoses d where d.person_id = f.relative_id
                and d.icd10 like 'E78.0%' and d.diagnosed_at <= $as_of) as already_diagnosed,
        (select string_agg(distinct g.result, ', ' order by g.result) from genetic_tests g
          where g.person_id = f.relative_id and g.tested_at <= $as_of) as test_result,
        exists (select 1 from referral_history h where h.person_id = f.relative_id
                and h.sent_at <= $as_of)
        or coalesce((select t.refer from out_triage t where t.person_id = f.relative_id), false)
            as already_referred
    from index_chosen ic
    join family f on f.person_id = ic.person_id
    join patients p on p.person_id = f.relative_id
    left join last_ldl l on l.person_id = f.relative_id
    left join treatment_now tn on tn.person_id = f.relative_id
    where p.deceased_date is null or p.deceased_date > $as_of
),
prioritised as (
    select
        *,
        case when already_diagnosed or test_result is not null then 4
             when already_referred then 3
             else degree end as priority
    from relatives
),
final as (
    select
        r.lipid_clinic_id,
        fi.family_id,
        null::varchar as index_cpr,  -- named by privacy.Reidentifier
        r.index_basis,
        r.consent,
        r.index_gp_practice_id,
        r.priority,
        null::varchar as relative_cpr,  -- named by privacy.Reidentifier
        r.relation,
        case r.degree when 1 then 'first' else 'second' end as degree,
        r.age,
        r.sex,
        r.gp_practice_id,
        round(r.last_ldl, 1) as last_ldl,
        r.last_ldl_date,
        round(r.last_untreated_ldl, 1) as last_untreated_ldl,
        r.treatment,
        r.already_diagnosed,
        coalesce(r.test_result, 'not_tested') as genetic_test,
        r.already_referred,
        -- a code; fh_screening/cascade.py words it in the list's language
        case
            when r.already_diagnosed then 'already_diagnosed'
            when r.test_result is not null then 'already_tested'
            when r.already_referred then 'already_referred'
            when r.age < $cascade_paediatric_test_by_age and r.degree = 1 then 'child_test_by'
            when r.age < 18 and r.degree = 1 then 'child_due'
            when r.degree = 1 then 'untested_first'
            when r.age < 18 then 'child_second'
            else 'untested_second'
        end as note,
        r.index_id,
        r.relative_id
    from prioritised r
    join cascade_family_ids fi on fi.person_id = r.index_id
)
select * from final
order by lipid_clinic_id, family_id, priority,
         degree = 'first' and age < $cascade_paediatric_test_by_age desc, age, relative_id;
