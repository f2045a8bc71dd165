-- A possible secondary cause of high LDL that excludes a person from referral: present at
-- every LDL sample the person has (02_ldl_untreated marks each sample, 03_index_ldl sets
-- such samples aside when there are others). Causes: hypothyroidism (the nearest TSH
-- above $secondary_causes_tsh_above), nephrotic-range hypoalbuminaemia (albumin below
-- $secondary_causes_albumin_below), cholestasis (ALP above $secondary_causes_alp_above
-- with bilirubin above $secondary_causes_bilirubin_above), very high triglycerides (above
-- $secondary_causes_triglycerides_above on the sample) and drugs that raise LDL
-- (config/code_lists/ldl_raising_drugs.csv). The values shown are the most abnormal among
-- the samples. A person with samples without a cause has no exclusion: the cause shows as
-- samples set aside (index_ldl.set_aside_samples) instead.
-- Kept in the store as `secondary_causes` (merged by fh_screening/criteria.py).
create or replace table int_secondary_causes as
with samples as (
    select *
    from int_ldl_history
    where ldl > 0
      and person_id in (select person_id from int_index_ldl where set_aside_samples = 0)
),
people as (
    select person_id
    from samples
    group by person_id
    having bool_and(secondary_cause)
),
final as (
    select
        s.person_id,
        max(s.tsh_near) filter (where s.high_tsh) as max_tsh,
        bool_or(s.high_tsh) as high_tsh,
        min(s.albumin_near) filter (where s.low_albumin) as min_albumin,
        bool_or(s.low_albumin) as low_albumin,
        max(s.alp_near) filter (where s.cholestasis) as max_alp,
        max(s.bilirubin_near) filter (where s.cholestasis) as max_bilirubin,
        bool_or(s.cholestasis) as cholestasis,
        max(s.triglycerides) filter (where s.very_high_triglycerides) as max_triglycerides,
        bool_or(s.very_high_triglycerides) as very_high_triglycerides,
        string_agg(distinct s.ldl_raising_drugs, ', ' order by s.ldl_raising_drugs)
            as ldl_raising_drugs,
        bool_or(s.ldl_raising_drugs is not null) as ldl_raising_drug
    from samples s
    join people using (person_id)
    group by s.person_id
)
select * from final;
