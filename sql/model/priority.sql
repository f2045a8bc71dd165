-- The priority tier combines the rule sets and the model's probability
-- (model_probabilities: person_id, fh_probability, model_reason_features, registered by
-- fh_screening/model.py). Possible homozygous FH (rules tier urgent) is always referred,
-- first. Otherwise nobody with an exclusion (known FH, positive genetic test, a secondary
-- cause) is referred, whatever the model says; for the rest:
--   high      probability >= $model_high_probability_at_least;
--   standard  flagged by a rule set, or probability >= $model_refer_probability_at_least;
--   null      not to be referred this run.
-- The model adds people the rules miss and orders everyone by probability; it never
-- removes someone a rule flagged (the rules stay the clinically recognised floor). The
-- rules' own tier (DLCN definite, untreated LDL >= 8.5) is kept in screening_results and
-- shown in the reasons, but no longer puts a person ahead of likelier carriers: on the
-- held-out worlds that cost carriers at every capacity (docs/model.md).
-- The rows replaced: the people scored now (`scope_b`: everyone in a full screening, the
-- people recomputed in an incremental one) and anyone no longer screened.
delete from model_scores
where region in (select unnest($regions))
  and (person_id in (select person_id from scope_b)
       or person_id not in (select person_id from screening_results));

-- By name: a store migrated from the text reasons has its columns in another order.
insert into model_scores by name
select
    s.person_id,
    s.region,
    m.fh_probability,
    m.fh_probability_low,
    m.fh_probability_high,
    m.model_reason_features,
    case
        when s.tier = 'urgent' then 'urgent'
        when len(s.exclusions) > 0 then null
        when m.fh_probability >= $model_high_probability_at_least then 'high'
        when s.flagged or m.fh_probability >= $model_refer_probability_at_least then 'standard'
    end as priority_tier,
    priority_tier is not null as refer,
    $model_version as model_version,
    cast($as_of as date) as as_of
from int_screening_results s
join model_probabilities m using (person_id);
