-- One row per screened person (patients of the screened regions with an LDL value, alive
-- on $as_of): the first rule set's result, exclusions, priority tier and reasons.
-- A person is flagged when the untreated-LDL estimate passes the threshold of their age
-- band; flagged people with an exclusion are kept (with the reason) but not referred.
create or replace table screening_results as
with known as (
    select
        p.person_id,
        exists (select 1 from diagnoses d where d.person_id = p.person_id
                and d.icd10 like 'E78.0%' and d.diagnosed_at <= $as_of) as known_fh,
        exists (select 1 from genetic_tests g where g.person_id = p.person_id
                and g.result = 'positive' and g.tested_at <= $as_of) as genetic_positive
    from patients p
    where p.region in (select unnest($regions))
),
rule as (
    select
        i.*,
        case
            when i.age_at_index <= $referral_child_max_age then 'child'
            when i.age_at_index <= $referral_young_adult_max_age then 'young_adult'
            else 'adult'
        end as age_band,
        case
            when i.age_at_index <= $referral_child_max_age
                then i.index_untreated_ldl > $referral_child_ldl_above
            when i.age_at_index <= $referral_young_adult_max_age
                then i.index_untreated_ldl > $referral_young_adult_ldl_above
            else i.index_untreated_ldl >= $referral_adult_ldl_at_least
        end as ldl_rule_met,
        case
            when i.age_at_index <= $referral_child_max_age
                then printf('> %.1f (children, EAS paediatric consensus)', $referral_child_ldl_above)
            when i.age_at_index <= $referral_young_adult_max_age
                then printf('> %.1f (age 18-%d, Simon Broome)', $referral_young_adult_ldl_above,
                            $referral_young_adult_max_age)
            else printf('>= %.1f (age %d+, lab-led case finding)', $referral_adult_ldl_at_least,
                        $referral_young_adult_max_age + 1)
        end as threshold_text
    from int_index_ldl i
),
joined as (
    select
        p.person_id,
        p.region,
        p.gp_practice_id,
        pr.lipid_clinic_id,
        p.sex,
        p.birth_date,
        date_sub('year', p.birth_date, $as_of) as age_now,
        r.* exclude (person_id),
        coalesce(s.high_tsh, false) as high_tsh,
        s.max_tsh,
        coalesce(s.very_high_triglycerides, false) as very_high_triglycerides,
        s.max_triglycerides,
        k.known_fh,
        k.genetic_positive
    from patients p
    join rule r using (person_id)
    join known k using (person_id)
    left join int_secondary_causes s using (person_id)
    left join practices pr on pr.gp_practice_id = p.gp_practice_id and pr.region = p.region
    where p.region in (select unnest($regions))
      and (p.deceased_date is null or p.deceased_date > $as_of)
),
final as (
    select
        *,
        ldl_rule_met as flagged,
        list_filter([
            case when known_fh then 'already diagnosed with FH (ICD-10 E78.0)' end,
            case when genetic_positive then 'FH variant already found by genetic test' end,
            case when high_tsh then printf('possible hypothyroidism: TSH %.1f mIU/L near the index sample', max_tsh) end,
            case when very_high_triglycerides then printf('very high triglycerides: %.1f mmol/L near the index sample', max_triglycerides) end
        ], lambda x: x is not null) as exclusions,
        list_filter([
            case when ldl_rule_met then printf(
                '%s LDL %.1f mmol/L on %s at age %d %s',
                case when index_treated then 'estimated untreated' else 'untreated' end,
                index_untreated_ldl, strftime(index_sampled_at, '%Y-%m-%d'), age_at_index,
                threshold_text) end,
            case when ldl_rule_met and index_treated then printf(
                'measured %.1f mmol/L on %s (%.0f %% reduction assumed)', index_ldl,
                index_treatment, 100 * index_treatment_reduction) end,
            case when ldl_rule_met and index_ldl_method = 'friedewald'
                then 'LDL calculated by Friedewald from the same sample' end
        ], lambda x: x is not null) as reasons
    from joined
)
select
    *,
    flagged and len(exclusions) = 0 as referral,
    case
        when not flagged or len(exclusions) > 0 then null
        when index_untreated_ldl >= $referral_high_priority_ldl_at_least then 'high'
        else 'standard'
    end as tier,
    cast($as_of as date) as as_of
from final;
