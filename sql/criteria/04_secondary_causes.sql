-- Lab signs of a secondary cause of high LDL near the index sample (within
-- $secondary_causes_window_days either side): hypothyroidism (TSH above
-- $secondary_causes_tsh_above) and very high triglycerides (above
-- $secondary_causes_triglycerides_above).
create or replace temp table int_secondary_causes as
with near as (
    select
        i.person_id,
        max(l.value) filter (where l.analyte = 'tsh') as max_tsh,
        max(l.value) filter (where l.analyte = 'triglycerides') as max_triglycerides
    from int_index_ldl i
    join lab_results l
      on l.person_id = i.person_id
     and l.analyte in ('tsh', 'triglycerides')
     and cast(l.sampled_at as date) <= $as_of
     and abs(date_diff('day', cast(i.index_sampled_at as date), cast(l.sampled_at as date)))
         <= $secondary_causes_window_days
    group by i.person_id
),
final as (
    select
        person_id,
        max_tsh,
        max_tsh > $secondary_causes_tsh_above as high_tsh,
        max_triglycerides,
        max_triglycerides > $secondary_causes_triglycerides_above as very_high_triglycerides
    from near
)
select * from final;
