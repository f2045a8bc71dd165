-- Lipid panels per person and sample time, with LDL as the clinic sees it: the lab's
-- reported LDL where there is one; else Friedewald, LDL = TC - HDL - TG/2.2 (mmol/L),
-- while TG <= $ldl_friedewald_max_tg; else the Sampson/NIH equation (Sampson 2020, in
-- mg/dL) while TG <= $ldl_sampson_max_tg; else not computable. The method is kept.
-- Panels without computable LDL are kept too: their total cholesterol counts for Simon
-- Broome and MEDPED. For the people in `scope_a` (everyone, or those whose data changed).
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
      and person_id in (select person_id from scope_a)
    group by person_id, sampled_at
),
mg_dl as (
    -- Sampson's coefficients are for mg/dL; conversion factors come from config/units.toml.
    select
        *,
        total_chol * $chol_mg_dl_per_mmol_l as tc_mg,
        hdl * $chol_mg_dl_per_mmol_l as hdl_mg,
        triglycerides * $tg_mg_dl_per_mmol_l as tg_mg
    from panels
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
            when total_chol is null or hdl is null or triglycerides is null then null
            when triglycerides <= $ldl_friedewald_max_tg
                then total_chol - hdl - triglycerides / 2.2
            when triglycerides <= $ldl_sampson_max_tg
                then (tc_mg / 0.948 - hdl_mg / 0.971
                      - (tg_mg / 8.56 + tg_mg * (tc_mg - hdl_mg) / 2140 - tg_mg * tg_mg / 16100)
                      - 9.44) / $chol_mg_dl_per_mmol_l
        end as ldl,
        case
            when ldl_reported is not null then 'reported'
            when total_chol is null or hdl is null or triglycerides is null then null
            when triglycerides <= $ldl_friedewald_max_tg then 'friedewald'
            when triglycerides <= $ldl_sampson_max_tg then 'sampson'
            else 'not computable'
        end as ldl_method
    from mg_dl
)
select * from final where ldl is not null or total_chol is not null;
