-- Every referral sent up to this run, once (a re-referral keeps its referral id), with
-- what the clinic's latest return says about it (issue 21, the yield report):
-- answered: any return; finding: confirmed / negative / open (current_returns).
-- The run, clinic, practice, tier and rule sets are those of the first sending.
with sent as (
    select
        referral_id,
        arg_min(run_id, sent_at) as run_id,
        min(sent_at) as sent_at,
        arg_min(lipid_clinic_id, sent_at) as lipid_clinic_id,
        arg_min(gp_practice_id, sent_at) as gp_practice_id,
        arg_min(tier, sent_at) as tier,
        arg_min(flagged_by, sent_at) as flagged_by,
        any_value(person_id) as person_id
    from referral_history
    where referral_id is not null and sent_at <= $as_of
    group by referral_id
)
select
    s.*,
    r.return_key is not null as answered,
    coalesce(r.finding, 'unanswered') as finding,
    r.contact,
    r.outcome_date,
    date_diff('day', s.sent_at, r.outcome_date) as days_to_outcome
from sent s
left join current_returns r on r.kind = 'referral' and r.return_key = s.referral_id
order by s.referral_id;
