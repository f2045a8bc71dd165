-- LDL per person and sample time. The lab's reported LDL is used where there is one;
-- else Friedewald from the same sample: LDL = TC - HDL - TG/2.2 (mmol/L), only while
-- TG <= $ldl_friedewald_max_tg. The method is kept with every value.
create or replace temp table int_ldl_values as
with panels as (
    select
        person_id,
        sampled_at,
        max(value) filter (where analyte = 'ldl') as ldl_reported,
        max(value) filter (where analyte = 'total_chol') as total_chol,
        max(value) filter (where analyte = 'hdl') as hdl,
        max(value) filter (where analyte = 'triglycerides') as triglycerides
    from lab_results
    where analyte in ('ldl', 'total_chol', 'hdl', 'triglycerides')
      and cast(sampled_at as date) <= $as_of
      and region in (select unnest($regions))
    group by person_id, sampled_at
),
final as (
    select
        person_id,
        sampled_at,
        total_chol,
        hdl,
        triglycerides,
        case
            when ldl_reported is not null then ldl_reported
            when triglycerides <= $ldl_friedewald_max_tg
                then total_chol - hdl - triglycerides / 2.2
        end as ldl,
        case
            when ldl_reported is not null then 'reported'
            when triglycerides <= $ldl_friedewald_max_tg and total_chol is not null
                 and hdl is not null then 'friedewald'
        end as ldl_method
    from panels
)
select * from final where ldl is not null and ldl_method is not null;
