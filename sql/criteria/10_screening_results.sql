-- One row per screened person (patients of the screened regions with an LDL value, alive
-- on $as_of): every intermediate value, each rule set's result, exclusions, tier and
-- reasons. A person is flagged when any rule set named in $flagging_rules fires:
--   ldl_age_band  untreated LDL above the threshold of their age band ([referral]);
--   dlcn          DLCN points above $dlcn_refer_above (NICE: refer for DNA testing);
--   simon_broome  Simon Broome definite or possible FH;
--   medped        untreated total cholesterol at or above the MEDPED cut-off.
-- Flagged people with an exclusion (secondary cause, known FH, positive genetic test) are
-- kept, with the reason, but not referred. Tier: high when DLCN is definite or untreated
-- LDL >= $referral_high_priority_ldl_at_least, else standard.
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
        end as threshold_text
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
        exists (select 1 from diagnoses d where d.person_id = p.person_id
                and d.icd10 like 'E78.0%' and d.diagnosed_at <= $as_of) as known_fh
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
            case when high_tsh then printf('possible hypothyroidism: TSH %.1f mIU/L near the index sample', max_tsh) end,
            case when low_albumin then printf('possible nephrotic syndrome: albumin %.0f g/L near the index sample', min_albumin) end,
            case when cholestasis then printf('possible cholestasis: ALP %.0f U/L and bilirubin %.0f umol/L near the index sample', max_alp, max_bilirubin) end,
            case when very_high_triglycerides then printf('very high triglycerides: %.1f mmol/L near the index sample', max_triglycerides) end
        ], lambda x: x is not null) as exclusions,
        list_filter([
            case when ldl_rule_met then printf(
                '%s LDL %.1f mmol/L on %s at age %d %s',
                case when index_treated then 'estimated untreated' else 'untreated' end,
                index_untreated_ldl, strftime(index_sampled_at, '%Y-%m-%d'), age_at_index,
                threshold_text) end,
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
                'measured LDL %.1f mmol/L on %s (%.0f %% reduction assumed)', index_ldl,
                index_treatment, 100 * index_treatment_reduction) end,
            case when len(flagged_by) > 0 and index_ldl_method in ('friedewald', 'sampson')
                then printf('LDL calculated by %s from the same sample',
                            case index_ldl_method when 'friedewald' then 'Friedewald'
                                 else 'the Sampson/NIH equation' end) end
        ], lambda x: x is not null) as reasons
    from fired
)
select
    *,
    flagged and len(exclusions) = 0 as referral,
    case
        when not flagged or len(exclusions) > 0 then null
        when dlcn_points > $dlcn_definite_above
             or index_untreated_ldl >= $referral_high_priority_ldl_at_least then 'high'
        else 'standard'
    end as tier,
    cast($as_of as date) as as_of
from final;
