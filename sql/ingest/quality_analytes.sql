-- Quality gate per analyte of a lab file (fh_screening/quality.py): the analyte with the
-- highest quarantined share above $share among those with at least $min rows, with the
-- field and reason most often behind it. Unknown codes have no analyte; they count in
-- the file's gate (quality_file.sql). Duplicates of earlier rows do not count.
with counted as (
    select
        analyte,
        -- the row's problem, when it counts against the gate
        case when _problem.reason <> 'duplicate of an earlier row' then _problem end as problem
    from checked
    where analyte is not null
),
per_analyte as (
    select
        analyte,
        count(*) as n,
        count(problem) as bad,
        mode(problem.field) as field,
        mode(problem.reason) as reason
    from counted
    group by analyte
)
select analyte, n, bad, field, reason
from per_analyte
where n >= $min and bad > $share * n
order by bad / n desc, analyte
limit 1
