-- Each GP practice's flagged patients (referred, or flagged but held back by a possible
-- secondary cause) with the next step for the GP. People already known to have FH are
-- not repeated here; they appear as cascade index cases. Clinician-facing (vault).
with flagged as (
    select *
    from screening_results
    where flagged and not known_fh and not genetic_positive
),
final as (
    select
        f.gp_practice_id,
        coalesce(pr.practice_name, f.gp_practice_id) as practice_name,
        f.lipid_clinic_id,
        i.cpr[1:6] || '-' || i.cpr[7:10] as cpr,
        f.age_now as age,
        f.sex,
        round(f.index_ldl, 1) as index_ldl,
        cast(f.index_sampled_at as date) as index_ldl_date,
        round(f.index_untreated_ldl, 1) as untreated_ldl_estimate,
        f.index_treatment,
        f.tier,
        f.reasons,
        f.exclusions,
        case
            when f.high_tsh then 'Check thyroid function (TSH); repeat a fasting lipid profile once thyroid function is normal.'
            when f.very_high_triglycerides then 'Repeat a fasting lipid profile; look for causes of high triglycerides (diabetes, alcohol, drugs).'
            when f.tier = 'high' then 'Refer to the lipid clinic; consider testing first-degree relatives.'
            else 'Repeat a fasting lipid profile at least a week later; if confirmed, refer to the lipid clinic.'
        end as next_step,
        f.person_id
    from flagged f
    join vault.identity i using (person_id)
    left join practices pr on pr.gp_practice_id = f.gp_practice_id and pr.region = f.region
)
select * from final
order by gp_practice_id, case tier when 'high' then 0 when 'standard' then 1 else 2 end,
         untreated_ldl_estimate desc, person_id;
