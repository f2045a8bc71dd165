-- The referral decision and priority every output uses: the risk model's (model_scores,
-- scored for the same as-of date) where it scored the person, else the rules'
-- (screening_results.referral and .tier). Works whether model_scores is empty or filled.
-- model_reasons are data (feature, value, odds ratio), worded by the writer of each output.
-- Only people every output can show are kept: referred, or flagged by a rule (the lists,
-- GP reports and cascade index cases); everyone else counts as not referred. A national
-- store screens millions of people, of whom one or two in a hundred are flagged.
create or replace temp table out_triage as
with decided as (
    -- decided on the narrow columns first: reading every column of millions of
    -- screening results (reasons, exclusions) before the filter cost most of the query
    select
        s.person_id,
        coalesce(m.refer, s.referral) as refer,
        case
            when m.person_id is null then s.tier
            when m.refer then coalesce(m.priority_tier, 'standard')
            else m.priority_tier
        end as priority_tier,
        m.fh_probability,
        m.fh_probability_low,
        m.fh_probability_high,
        coalesce(m.model_reason_features,
                 []::struct(feature varchar, value double, odds_ratio double)[])
            as model_reasons,
        m.model_version
    from screening_results s
    left join model_scores m on m.person_id = s.person_id and m.as_of = s.as_of
    where s.flagged or coalesce(m.refer, s.referral)
)
select s.*, d.* exclude (person_id)
from decided d
join screening_results s using (person_id);
