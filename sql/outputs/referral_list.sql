-- Lipid-clinic referral list of this run: people referred by the rules, not referred by
-- an earlier run, ranked by tier then untreated LDL (ties by pseudonym, so the order is
-- total and reproducible). Re-identified through the attached vault: clinician-facing.
with candidates as (
    select s.*
    from screening_results s
    where s.referral
      and not exists (
          select 1 from referral_history h
          where h.person_id = s.person_id and h.run_id <> $run_id
      )
),
final as (
    select
        s.lipid_clinic_id,
        row_number() over (
            partition by s.lipid_clinic_id
            order by case s.tier when 'high' then 0 else 1 end, s.index_untreated_ldl desc,
                     s.person_id
        ) as rank,
        s.tier,
        i.cpr[1:6] || '-' || i.cpr[7:10] as cpr,
        s.age_now as age,
        s.sex,
        s.gp_practice_id,
        pr.practice_name,
        round(s.index_ldl, 2) as index_ldl,
        cast(s.index_sampled_at as date) as index_ldl_date,
        s.index_ldl_method,
        s.index_treatment,
        round(s.index_untreated_ldl, 2) as untreated_ldl_estimate,
        s.ldl_samples,
        s.dlcn_points,
        s.dlcn_category,
        printf('LDL %d, own history %d, family %d, DNA %s', s.dlcn_ldl_points,
               s.dlcn_own_history_points, s.dlcn_family_points,
               coalesce(cast(s.dlcn_dna_points as varchar), 'not tested')) as dlcn_parts,
        coalesce(s.simon_broome, 'not met') as simon_broome,
        case when s.medped_met then 'met' else 'not met' end as medped,
        array_to_string(s.flagged_by, ', ') as flagged_by,
        array_to_string(s.reasons, '; ') as reasons,
        s.person_id
    from candidates s
    join vault.identity i using (person_id)
    left join practices pr on pr.gp_practice_id = s.gp_practice_id and pr.region = s.region
)
select * from final
order by lipid_clinic_id, rank;
