-- Vascular disease per person from ICD-10 diagnoses up to $as_of, with the age at the
-- first diagnosis. Premature: before $dlcn_premature_men_before (men) or
-- $dlcn_premature_women_before (women) (DLCN). Coronary heart disease I20-I25; cerebral
-- I63-I66; peripheral arterial I70-I74; myocardial infarction (Simon Broome's family item)
-- I21, I22 and old MI I25.2.
create or replace temp table int_vascular_history as
with coded as (
    select
        d.person_id,
        p.sex,
        date_sub('year', p.birth_date, d.diagnosed_at) as age_at_diagnosis,
        regexp_full_match(d.icd10, 'I2[0-5].*') as chd,
        regexp_full_match(d.icd10, '(I6[3-6]|I7[0-4]).*') as other_vascular,
        regexp_full_match(d.icd10, '(I2[12]|I25\.2).*') as mi
    from diagnoses d
    join patients p using (person_id)
    where d.diagnosed_at <= $as_of
),
final as (
    select
        person_id,
        any_value(sex) as sex,
        min(age_at_diagnosis) filter (where chd) as first_chd_age,
        min(age_at_diagnosis) filter (where other_vascular) as first_other_vascular_age,
        min(age_at_diagnosis) filter (where mi) as first_mi_age,
        coalesce(min(age_at_diagnosis) filter (where chd)
                 < case any_value(sex) when 'M' then $dlcn_premature_men_before
                                        else $dlcn_premature_women_before end, false)
            as premature_chd,
        coalesce(min(age_at_diagnosis) filter (where other_vascular)
                 < case any_value(sex) when 'M' then $dlcn_premature_men_before
                                        else $dlcn_premature_women_before end, false)
            as premature_other_vascular
    from coded
    group by person_id
)
select * from final;
