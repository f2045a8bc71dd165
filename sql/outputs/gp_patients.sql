-- Each GP practice's flagged patients: referred (by the rules or the model), or flagged
-- but held back by a possible secondary cause. People already known to have FH are not
-- repeated here; they appear as cascade index cases. Structured facts only: the report
-- words them in the reader's language (fh_screening/locales/). Clinician-facing (vault).
-- next_steps, in order: tests for a secondary cause found; a repeat fasting lipid profile
-- when LDL was measured once or the patient is held back (measure twice, a week apart);
-- referral (high priority) or consider referral (standard); cascade testing of relatives.
-- Issue 21: a patient sent to the lipid clinic by an earlier run is "already with the
-- clinic" (referral id, date, the clinic's latest answer) and is not to be referred again;
-- report_change marks patients new on this practice's report, or changed (tier,
-- referral, untreated LDL, samples) since its previous report (gp_report_history).
with flagged as (
    select *
    from out_triage
    where (flagged or refer) and not known_fh and not genetic_positive
),
prior_referral as (
    select person_id, min(sent_at) as referred_on, max(referral_id) as referral_id
    from referral_history
    where run_id <> $run_id and sent_at <= $as_of
    group by person_id
),
answer as (
    select person_id, finding as clinic_finding, outcome_date as clinic_outcome_date
    from current_returns
    where kind = 'referral'
),
previous_run as (
    select gp_practice_id, arg_max(run_id, as_of) as run_id
    from gp_report_history
    where run_id <> $run_id and as_of <= $as_of
    group by gp_practice_id
),
previous as (
    select h.*
    from gp_report_history h
    join previous_run r on r.run_id = h.run_id and r.gp_practice_id is not distinct from h.gp_practice_id
),
final as (
    select
        f.gp_practice_id,
        coalesce(pr.practice_name, f.gp_practice_id) as practice_name,
        f.lipid_clinic_id,
        null::varchar as cpr,  -- named by privacy.Reidentifier, outside the store
        f.age_now as age,
        f.sex,
        round(f.index_ldl, 1) as index_ldl,
        cast(f.index_sampled_at as date) as index_ldl_date,
        f.index_ldl_method,
        f.index_treated,
        f.index_treatment,
        f.index_treatment_reduction,
        round(f.index_untreated_ldl, 1) as untreated_ldl_estimate,
        f.untreated_ldl_low,
        f.untreated_ldl_high,
        f.ldl_evidence,
        f.off_treatment_samples,
        f.on_treatment_samples,
        f.observed_reduction,
        f.nominal_reduction,
        f.set_aside_samples,
        f.set_aside_causes,
        f.possible_homozygous,
        f.max_measured_ldl,
        f.ldl_samples,
        f.age_at_index,
        f.age_band,
        f.ldl_rule_met,
        case f.age_band when 'child' then $referral_child_ldl_above
                        when 'young_adult' then $referral_young_adult_ldl_above
                        else $referral_adult_ldl_at_least end as ldl_threshold,
        f.age_band = 'adult' as ldl_threshold_inclusive,
        case f.age_band when 'child' then $homozygous_child_ldl_above
                        else $homozygous_adult_ldl_above end as ldl_threshold_homozygous,
        $ldl_evidence_on_treatment_effect_fraction as effect_fraction,
        f.dlcn_points,
        f.dlcn_category,
        f.dlcn_points > $dlcn_refer_above as dlcn_met,
        f.simon_broome,
        f.medped_met,
        f.medped_tc,
        f.medped_age,
        f.medped_cutoff,
        f.high_tsh, f.max_tsh,
        f.low_albumin, f.min_albumin,
        f.cholestasis, f.max_alp, f.max_bilirubin,
        f.very_high_triglycerides, f.max_triglycerides,
        f.ldl_raising_drug, f.ldl_raising_drugs,
        f.refer,
        f.priority_tier,
        f.fh_probability,
        f.fh_probability_low,
        f.fh_probability_high,
        f.model_reasons,
        pr_ref.referred_on,
        pr_ref.referral_id,
        ans.clinic_finding,
        ans.clinic_outcome_date,
        case when (select count(*) from previous_run r
                   where r.gp_practice_id is not distinct from f.gp_practice_id) = 0 then null
             when pv.person_id is null then 'new'
             when pv.priority_tier is distinct from f.priority_tier
                  or pv.refer is distinct from f.refer
                  or abs(pv.untreated_ldl - f.index_untreated_ldl) >= 0.05
                  or pv.ldl_samples is distinct from f.ldl_samples then 'changed'
        end as report_change,
        list_filter([
            case when f.high_tsh then 'check_tsh' end,
            case when f.low_albumin then 'check_kidney' end,
            case when f.cholestasis then 'check_liver' end,
            case when f.very_high_triglycerides then 'check_triglycerides' end,
            case when f.ldl_raising_drug then 'check_drugs' end,
            case when pr_ref.person_id is not null then 'already_referred' end,
            case when f.refer and f.priority_tier = 'urgent' and pr_ref.person_id is null
                 then 'refer_urgent' end,
            case when (f.ldl_samples < 2 or not f.refer)
                      and f.priority_tier is distinct from 'urgent' then 'repeat_lipids' end,
            case when f.refer and f.priority_tier = 'high' and pr_ref.person_id is null
                 then 'refer' end,
            case when f.refer and f.priority_tier = 'standard' and pr_ref.person_id is null
                 then 'consider_referral' end,
            case when f.refer then 'cascade' end
        ], lambda x: x is not null) as next_steps,
        f.person_id
    from flagged f
    left join practices pr on pr.gp_practice_id = f.gp_practice_id and pr.region = f.region
    left join prior_referral pr_ref on pr_ref.person_id = f.person_id
    left join answer ans on ans.person_id = f.person_id
    left join previous pv on pv.person_id = f.person_id
         and pv.gp_practice_id is not distinct from f.gp_practice_id
)
select * from final
order by gp_practice_id, case when refer then 0 else 1 end,
         case priority_tier when 'urgent' then 0 when 'high' then 1 when 'standard' then 2
                            else 3 end,
         fh_probability desc nulls last, untreated_ldl_estimate desc, person_id;
