-- People referred to a lipid clinic by an earlier run whose FH is not confirmed yet
-- (issue 21): no return yet, or one without a finding (seen without a result, declined,
-- not reached, an uncertain test). They are not cascade index cases: their families get
-- no letter and no list until the clinic confirms FH. A return saying not FH (or a
-- secondary cause, or a negative test) ends the wait. Known FH (E78.0) or a positive
-- test makes a person an index case instead. Clinician-facing (vault).
with sent as (
    select person_id, lipid_clinic_id, min(sent_at) as sent_on, max(referral_id) as referral_id
    from referral_history
    where run_id <> $run_id and sent_at <= $as_of and referral_id is not null
    group by all
),
answered as (
    select person_id, finding, contact, diagnosis, genetic_test, outcome_date
    from current_returns
    where kind = 'referral'
)
select
    s.lipid_clinic_id,
    s.referral_id,
    null::varchar as cpr,  -- named by privacy.Reidentifier
    date_sub('year', p.birth_date, $as_of) as age,
    p.sex,
    p.gp_practice_id,
    s.sent_on,
    a.contact as last_contact,
    a.diagnosis as last_diagnosis,
    a.genetic_test as last_genetic_test,
    a.outcome_date as last_outcome_date,
    s.person_id
from sent s
join patients p on p.person_id = s.person_id
left join answered a on a.person_id = s.person_id
where coalesce(a.finding, 'open') = 'open'
  and s.person_id not in (select person_id from out_cascade_index)
  and (p.deceased_date is null or p.deceased_date > $as_of)
order by s.lipid_clinic_id, s.sent_on, s.referral_id;
