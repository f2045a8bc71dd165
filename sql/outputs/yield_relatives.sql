-- Relatives a clinic has answered for (issue 21, the yield report): each relative's latest
-- return with its family (the index case it was listed under).
select
    r.return_key as relative_ref,
    s.scope as family_id,
    r.lipid_clinic_id,
    r.finding,
    r.contact,
    r.outcome_date
from current_returns r
join stable_ids s on s.kind = 'relative' and s.code = r.return_key
where r.kind = 'relative'
order by r.return_key;
