-- Lipid-lowering treatment (ATC C10) active on the sample date, and the untreated-LDL
-- estimate: untreated = measured / (1 - r). r per drug by dose (NICE table), else the
-- drug's default, else the class default; several drugs combine as 1 - prod(1 - r),
-- capped at $treatment_max_reduction. A drug prescribed twice over the same day counts once.
-- Kept in the store as `ldl_history` (the GP reports and cascade lists show it; merged
-- for the people in scope by fh_screening/criteria.py), with the age at each sample. Total cholesterol is not corrected for treatment: the rules
-- that use it (Simon Broome, MEDPED) read untreated samples only.
create or replace table int_ldl_history as
with active as (
    select
        v.person_id,
        v.sampled_at,
        p.atc_code,
        max(coalesce(dd.reduction, df.reduction, $treatment_class_default_reduction)) as reduction,
        max(p.strength_mg) as strength_mg,
        any_value(coalesce(df.name, p.atc_code)) as drug
    from int_ldl_values v
    join prescriptions p
      on p.person_id = v.person_id
     and p.atc_code like 'C10%'
     and p.start_date <= cast(v.sampled_at as date)
     and (p.end_date is null or p.end_date >= cast(v.sampled_at as date))
    left join drug_dose_reduction dd on dd.atc_code = p.atc_code and dd.strength_mg = p.strength_mg
    left join drug_default_reduction df on df.atc_code = p.atc_code
    group by v.person_id, v.sampled_at, p.atc_code
),
combined as (
    select
        person_id,
        sampled_at,
        least($treatment_max_reduction, 1 - product(1 - reduction)) as reduction,
        string_agg(drug || coalesce(' ' || cast(strength_mg as integer) || ' mg', ''), ' + '
                   order by drug) as treatment
    from active
    group by person_id, sampled_at
),
final as (
    select
        v.*,
        c.person_id is not null as treated,
        coalesce(c.reduction, 0) as treatment_reduction,
        c.treatment,
        v.ldl / (1 - coalesce(c.reduction, 0)) as untreated_ldl,
        date_sub('year', p.birth_date, cast(v.sampled_at as date)) as age_at_sample,
        p.sex
    from int_ldl_values v
    join patients p using (person_id)
    left join combined c using (person_id, sampled_at)
)
select * from final;
