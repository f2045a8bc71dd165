-- Cascade index cases (issue 21): people with confirmed FH only, alive and in the screened
-- regions: an FH diagnosis (ICD-10 E78.0), a positive genetic test, or a lipid clinic's
-- return confirming FH (clinically, or by a positive test; current_returns in
-- sql/schema/store.sql) by $as_of. Flagged but unconfirmed people are not index cases:
-- they wait as "pending confirmation" (cascade_pending.sql) and no letter is written for
-- their families.
-- consent: the index patient's latest answer from a return (referral or family row):
-- 'yes' (the clinic may contact relatives: they are listed with CPR), 'letter_only',
-- 'no', or null (not recorded yet: the family gets the letter only).
create or replace temp table out_cascade_index as
with screened_regions as (
    select distinct region from screening_results
),
index_candidates as (
    select person_id, 'genetic' as basis from genetic_tests
    where result = 'positive' and tested_at <= $as_of
    union all
    select person_id, 'diagnosis' from diagnoses
    where icd10 like 'E78.0%' and diagnosed_at <= $as_of
    union all
    select person_id, 'return' from current_returns
    where finding = 'confirmed' and kind in ('referral', 'relative')
      and coalesce(outcome_date, $as_of) <= $as_of
),
consent as (
    select person_id, arg_max(consent, received_seq * 1000000 + row_number) as consent
    from clinic_returns
    where consent is not null
    group by person_id
)
select
    p.person_id,
    p.region,
    p.gp_practice_id,
    pr.lipid_clinic_id,
    case when bool_or(c.basis = 'genetic') then 'genetic'
         when bool_or(c.basis = 'diagnosis') then 'diagnosis'
         else 'return' end as index_basis,
    any_value(cs.consent) as consent
from index_candidates c
join patients p on p.person_id = c.person_id
left join practices pr on pr.gp_practice_id = p.gp_practice_id and pr.region = p.region
left join consent cs on cs.person_id = p.person_id
where p.region in (select region from screened_regions)
  and (p.deceased_date is null or p.deceased_date > $as_of)
group by p.person_id, p.region, p.gp_practice_id, pr.lipid_clinic_id;
