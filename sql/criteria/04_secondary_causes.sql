-- Lab signs of a secondary cause of high LDL within $secondary_causes_window_days of the
-- index sample: hypothyroidism (TSH above $secondary_causes_tsh_above), nephrotic range
-- hypoalbuminaemia (albumin below $secondary_causes_albumin_below), cholestasis (ALP above
-- $secondary_causes_alp_above together with bilirubin above
-- $secondary_causes_bilirubin_above) and very high triglycerides (above
-- $secondary_causes_triglycerides_above).
-- Kept in the store as `secondary_causes` (merged by fh_screening/criteria.py).
create or replace table int_secondary_causes as
with near as (
    select
        i.person_id,
        max(l.value) filter (where l.analyte = 'tsh') as max_tsh,
        min(l.value) filter (where l.analyte = 'albumin') as min_albumin,
        max(l.value) filter (where l.analyte = 'alp') as max_alp,
        max(l.value) filter (where l.analyte = 'bilirubin') as max_bilirubin,
        max(l.value) filter (where l.analyte = 'triglycerides') as max_triglycerides
    from int_index_ldl i
    join lab_results l
      on l.person_id = i.person_id
     and l.analyte in ('tsh', 'albumin', 'alp', 'bilirubin', 'triglycerides')
     and cast(l.sampled_at as date) <= $as_of
     and abs(date_diff('day', cast(i.index_sampled_at as date), cast(l.sampled_at as date)))
         <= $secondary_causes_window_days
    group by i.person_id
),
final as (
    select
        person_id,
        max_tsh,
        coalesce(max_tsh > $secondary_causes_tsh_above, false) as high_tsh,
        min_albumin,
        coalesce(min_albumin < $secondary_causes_albumin_below, false) as low_albumin,
        max_alp,
        max_bilirubin,
        coalesce(max_alp > $secondary_causes_alp_above
                 and max_bilirubin > $secondary_causes_bilirubin_above, false) as cholestasis,
        max_triglycerides,
        coalesce(max_triglycerides > $secondary_causes_triglycerides_above, false)
            as very_high_triglycerides
    from near
)
select * from final;
