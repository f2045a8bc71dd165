-- Per LDL sample: the treatment acting on it, its nominal untreated-LDL estimate, and any
-- secondary cause present at the time. Kept in the store as `ldl_history` (the GP
-- reports and cascade lists show it; merged for the people in scope by
-- fh_screening/criteria.py), with the age at each sample.
--
-- Treatment: a lipid-lowering (ATC C10) prescription acts on a sample taken at least
-- $treatment_effect_onset_days after it started and before it ended (a drug started on the
-- sample day has had no effect). Statins (ATC $treatment_statin_atc_prefix) are one class:
-- two open statin prescriptions are a switch, and the one started last counts (ties: the
-- stronger). Classes combine as 1 - prod(1 - r) (ezetimibe and PCSK9 inhibitors act on
-- what the statin leaves), capped at $treatment_max_reduction; r per drug by dose (NICE
-- table), else the drug's default, else the class default. The nominal estimate
-- untreated_ldl = ldl / (1 - r) is what the GP chart shows; the person's evidence
-- (03_index_ldl) discounts it for adherence and response and weighs its uncertainty.
--
-- Secondary causes per sample: the nearest TSH, albumin, ALP and bilirubin within
-- $secondary_causes_window_days of the sample (ties: the value pointing to a cause), the
-- sample's own triglycerides, and drugs that raise LDL (ldl_raising_drugs, from
-- config/code_lists/) open on the sample day. A sample with a cause is set aside when the
-- person has samples without one (03_index_ldl), so a treated hypothyroidism does not hide
-- a later untreated LDL for good. Total cholesterol is not corrected for treatment: the
-- rules that use it (Simon Broome, MEDPED) read untreated samples only.
create or replace table int_ldl_history as
with rx as (
    select v.person_id, v.sampled_at, p.atc_code, p.strength_mg, p.start_date
    from int_ldl_values v
    join prescriptions p
      on p.person_id = v.person_id
     and p.start_date <= cast(v.sampled_at as date)
     and (p.end_date is null or p.end_date >= cast(v.sampled_at as date))
),
lowering as (
    select
        r.person_id,
        r.sampled_at,
        case when starts_with(r.atc_code, $treatment_statin_atc_prefix) then 'statin'
             else r.atc_code end as drug_class,
        coalesce(dd.reduction, df.reduction, $treatment_class_default_reduction) as reduction,
        coalesce(df.name, r.atc_code)
            || coalesce(' ' || cast(r.strength_mg as integer) || ' mg', '') as drug,
        r.start_date
    from rx r
    left join drug_dose_reduction dd on dd.atc_code = r.atc_code and dd.strength_mg = r.strength_mg
    left join drug_default_reduction df on df.atc_code = r.atc_code
    where r.atc_code like 'C10%'
      and r.start_date + cast($treatment_effect_onset_days as integer) <= cast(r.sampled_at as date)
),
by_class as (
    -- one drug per class: the one started last, ties to the stronger, then by name (one
    -- max over the struct, whose fields are the values wanted)
    select person_id, sampled_at, drug_class, best.r as reduction, best.d as drug
    from (
        select person_id, sampled_at, drug_class,
               max(struct_pack(s := start_date, r := reduction, d := drug)) as best
        from lowering
        group by person_id, sampled_at, drug_class
    )
),
combined as (
    select
        person_id,
        sampled_at,
        least($treatment_max_reduction, 1 - product(1 - reduction)) as reduction,
        string_agg(drug, ' + ' order by drug_class <> 'statin', drug) as treatment
    from by_class
    group by person_id, sampled_at
),
raising as (
    select
        r.person_id,
        r.sampled_at,
        string_agg(distinct d.name || ' (' || r.atc_code || ')', ', '
                   order by d.name || ' (' || r.atc_code || ')') as ldl_raising_drugs
    from rx r
    join ldl_raising_drugs d on starts_with(r.atc_code, d.atc_prefix)
    group by r.person_id, r.sampled_at
),
nearby as (
    -- secondary-cause values within the window of each sample, with their distance
    select
        v.person_id,
        v.sampled_at,
        l.analyte,
        l.value,
        abs(date_diff('day', cast(v.sampled_at as date), cast(l.sampled_at as date))) as days
    from int_ldl_values v
    join lab_results l
      on l.person_id = v.person_id
     and l.analyte in ('tsh', 'albumin', 'alp', 'bilirubin')
     and cast(l.sampled_at as date) <= $as_of
     and abs(date_diff('day', cast(v.sampled_at as date), cast(l.sampled_at as date)))
         <= $secondary_causes_window_days
),
near as (
    -- the nearest value of each kind; ties go to the value pointing to a cause (the higher
    -- TSH, ALP and bilirubin, the lower albumin). One min over (distance, value) per kind,
    -- whose second field is the value (negated where the higher one wins)
    select
        person_id,
        sampled_at,
        -(min({'d': days, 'v': -value}) filter (where analyte = 'tsh')).v as tsh_near,
        (min({'d': days, 'v': value}) filter (where analyte = 'albumin')).v as albumin_near,
        -(min({'d': days, 'v': -value}) filter (where analyte = 'alp')).v as alp_near,
        -(min({'d': days, 'v': -value}) filter (where analyte = 'bilirubin')).v
            as bilirubin_near
    from nearby
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
        p.sex,
        n.tsh_near,
        coalesce(n.tsh_near > $secondary_causes_tsh_above, false) as high_tsh,
        n.albumin_near,
        coalesce(n.albumin_near < $secondary_causes_albumin_below, false) as low_albumin,
        n.alp_near,
        n.bilirubin_near,
        coalesce(n.alp_near > $secondary_causes_alp_above
                 and n.bilirubin_near > $secondary_causes_bilirubin_above, false) as cholestasis,
        coalesce(v.triglycerides > $secondary_causes_triglycerides_above, false)
            as very_high_triglycerides,
        d.ldl_raising_drugs
    from int_ldl_values v
    join patients p using (person_id)
    left join combined c using (person_id, sampled_at)
    left join raising d using (person_id, sampled_at)
    left join near n using (person_id, sampled_at)
)
select
    *,
    high_tsh or low_albumin or cholestasis or very_high_triglycerides
        or ldl_raising_drugs is not null as secondary_cause
from final;
