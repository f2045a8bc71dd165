-- One row per screened person (patients of the screened regions with an LDL value, alive
-- on $as_of): every intermediate value, each rule set's result, exclusions, tier and
-- reasons. A person is flagged when any rule set named in $flagging_rules fires:
--   ldl_age_band  untreated LDL above the threshold of their age band ([referral]);
--   dlcn          DLCN points above $dlcn_refer_above (NICE: refer for DNA testing);
--   simon_broome  Simon Broome definite or possible FH;
--   medped        untreated total cholesterol at or above the MEDPED cut-off.
-- Flagged people with an exclusion (a secondary cause at every LDL sample, known FH, a
-- positive genetic test) are kept, with the reason, but not referred. Tier: urgent for
-- possible homozygous FH (03_index_ldl; referred even with a secondary cause, which is
-- shown, but not when FH is already known); high when DLCN is definite or the untreated
-- LDL estimate >= $referral_high_priority_ldl_at_least; else standard.
-- For the people in `scope_b`; kept in the store as `screening_results` (merged by
-- fh_screening/criteria.py).
create or replace table int_screening_results as
with rule as (
    select
        sc.*,
        case
            when sc.age_at_index <= $referral_child_max_age then 'child'
            when sc.age_at_index <= $referral_young_adult_max_age then 'young_adult'
            else 'adult'
        end as age_band,
        case
            when sc.age_at_index <= $referral_child_max_age
                then sc.index_untreated_ldl > $referral_child_ldl_above
            when sc.age_at_index <= $referral_young_adult_max_age
                then sc.index_untreated_ldl > $referral_young_adult_ldl_above
            else sc.index_untreated_ldl >= $referral_adult_ldl_at_least
        end as ldl_rule_met,
        case
            when sc.age_at_index <= $referral_child_max_age
                then printf('> %.1f (children, EAS paediatric consensus)', $referral_child_ldl_above)
            when sc.age_at_index <= $referral_young_adult_max_age
                then printf('> %.1f (age %d-%d, Simon Broome)', $referral_young_adult_ldl_above,
                            $referral_child_max_age + 1, $referral_young_adult_max_age)
            else printf('>= %.1f (age %d+, lab-led case finding)', $referral_adult_ldl_at_least,
                        $referral_young_adult_max_age + 1)
        end as threshold_text,
        case sc.ldl_evidence
            when 'off treatment' then printf('%d sample(s) off treatment, latest %s',
                                             sc.off_treatment_samples,
                                             strftime(sc.index_sampled_at, '%Y-%m-%d'))
            else printf('80 %% range %.1f-%.1f; %d sample(s) off treatment, %d on treatment',
                        sc.untreated_ldl_low, sc.untreated_ldl_high,
                        sc.off_treatment_samples, sc.on_treatment_samples)
        end as evidence_text
    from int_scores sc
),
joined as (
    select
        p.person_id,
        p.region,
        p.gp_practice_id,
        pr.lipid_clinic_id,
        p.birth_date,
        date_sub('year', p.birth_date, $as_of) as age_now,
        r.* exclude (person_id),
        coalesce(s.high_tsh, false) as high_tsh,
        s.max_tsh,
        coalesce(s.low_albumin, false) as low_albumin,
        s.min_albumin,
        coalesce(s.cholestasis, false) as cholestasis,
        s.max_alp,
        s.max_bilirubin,
        coalesce(s.very_high_triglycerides, false) as very_high_triglycerides,
        s.max_triglycerides,
        coalesce(s.ldl_raising_drug, false) as ldl_raising_drug,
        s.ldl_raising_drugs,
        -- uncorrelated (a correlated exists runs as a delimiter join over the scope)
        p.person_id in (select person_id from diagnoses
                        where icd10 like 'E78.0%' and diagnosed_at <= $as_of
                          and person_id is not null) as known_fh
    -- both tables read for the scope only (scope_b): joined whole, DuckDB built its hash
    -- table from every patient in the store
    from (select * from patients
          where person_id in (select person_id from scope_b)) p
    join rule r using (person_id)
    left join (select * from secondary_causes
               where person_id in (select person_id from scope_b)) s using (person_id)
    left join practices pr on pr.gp_practice_id = p.gp_practice_id and pr.region = p.region
    where p.region in (select unnest($regions))
      and (p.deceased_date is null or p.deceased_date > $as_of)
),
fired as (
    select
        *,
        list_filter([
            case when ldl_rule_met then 'ldl_age_band' end,
            case when dlcn_points > $dlcn_refer_above then 'dlcn' end,
            case when simon_broome is not null then 'simon_broome' end,
            case when medped_met then 'medped' end
        ], lambda x: x is not null and list_contains($flagging_rules, x)) as flagged_by
    from joined
),
final as (
    select
        *,
        len(flagged_by) > 0 as flagged,
        list_filter([
            case when known_fh then 'already diagnosed with FH (ICD-10 E78.0)' end,
            case when genetic_positive then 'FH variant already found by genetic test' end,
            case when high_tsh then printf('possible hypothyroidism: TSH up to %.1f mIU/L near every LDL sample', max_tsh) end,
            case when low_albumin then printf('possible nephrotic syndrome: albumin down to %.0f g/L near every LDL sample', min_albumin) end,
            case when cholestasis then printf('possible cholestasis: ALP up to %.0f U/L and bilirubin up to %.0f umol/L near every LDL sample', max_alp, max_bilirubin) end,
            case when very_high_triglycerides then printf('very high triglycerides: up to %.1f mmol/L on every LDL sample', max_triglycerides) end,
            case when ldl_raising_drug then printf('possible drug cause: %s at every LDL sample', ldl_raising_drugs) end
        ], lambda x: x is not null) as exclusions,
        list_filter([
            case when possible_homozygous then printf(
                'possible homozygous FH: LDL up to %.1f mmol/L measured, untreated estimate %.1f (above %.0f in %s): urgent',
                max_measured_ldl, index_untreated_ldl,
                case when age_at_index <= $referral_child_max_age then $homozygous_child_ldl_above
                     else $homozygous_adult_ldl_above end,
                case when age_at_index <= $referral_child_max_age then 'children' else 'adults' end) end,
            case when ldl_rule_met then printf(
                '%s LDL %.1f mmol/L (%s) at age %d %s',
                case when ldl_evidence = 'off treatment' then 'untreated' else 'estimated untreated' end,
                index_untreated_ldl, evidence_text, age_at_index, threshold_text) end,
            case when dlcn_points > $dlcn_refer_above then printf(
                'DLCN %d points (%s FH): LDL %d, own vascular history %d, family %d, DNA %s',
                dlcn_points, dlcn_category, dlcn_ldl_points, dlcn_own_history_points,
                dlcn_family_points, coalesce(cast(dlcn_dna_points as varchar), 'not tested')) end,
            case when simon_broome is not null then printf(
                'Simon Broome %s FH: cholesterol criterion met%s', simon_broome,
                case when simon_broome = 'definite' then ' and FH variant found'
                     else ' with a family history of early MI or high cholesterol' end) end,
            case when medped_met then printf(
                'MEDPED: total cholesterol %.1f mmol/L at age %d >= %.1f (%s)',
                medped_tc, medped_age, medped_cutoff, medped_reference) end,
            case when len(flagged_by) > 0 and index_treated then printf(
                'measured LDL %.1f mmol/L on %s on %s (nominal reduction %.0f %%, %.0f %% of it assumed achieved)',
                index_ldl, index_treatment, strftime(index_sampled_at, '%Y-%m-%d'),
                100 * index_treatment_reduction, 100 * $ldl_evidence_on_treatment_effect_fraction) end,
            case when len(flagged_by) > 0 and observed_reduction is not null then printf(
                'own response: LDL %.0f %% lower on treatment than off it (nominal %.0f %%)',
                100 * observed_reduction, 100 * nominal_reduction) end,
            case when len(flagged_by) > 0 and set_aside_samples > 0 then printf(
                '%d LDL sample(s) set aside: taken with a possible secondary cause (%s)',
                set_aside_samples, array_to_string(set_aside_causes, ', ')) end,
            case when len(flagged_by) > 0 and index_ldl_method in ('friedewald', 'sampson')
                then printf('LDL calculated by %s from the same sample',
                            case index_ldl_method when 'friedewald' then 'Friedewald'
                                 else 'the Sampson/NIH equation' end) end
        ], lambda x: x is not null) as reasons
    from fired
)
select
    *,
    (flagged and len(exclusions) = 0)
        or (possible_homozygous and not known_fh and not genetic_positive) as referral,
    case
        when possible_homozygous and not known_fh and not genetic_positive then 'urgent'
        when not flagged or len(exclusions) > 0 then null
        when dlcn_points > $dlcn_definite_above
             or index_untreated_ldl >= $referral_high_priority_ldl_at_least then 'high'
        else 'standard'
    end as tier,
    cast($as_of as date) as as_of
from final;
