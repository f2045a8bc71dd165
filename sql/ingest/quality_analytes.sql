-- Quality gate per analyte of a lab file (fh_screening/quality.py): the analyte with the
-- highest quarantined share above $share among those with at least $min rows, with the
-- field and reason most often behind it. Unknown codes have no analyte; they count in
-- the file's gate (quality_file.sql).
with per_analyte as (
    select
        analyte,
        count(*) as n,
        count(*) filter (where _problem is not null
                         and _problem.reason <> 'duplicate of an earlier row') as bad,
        mode(_problem.field) filter (where _problem is not null
                                     and _problem.reason <> 'duplicate of an earlier row') as field,
        mode(_problem.reason) filter (where _problem is not null
                                      and _problem.reason <> 'duplicate of an earlier row') as reason
    from checked
    where analyte is not null
    group by analyte
)
select analyte, n, bad, field, reason
from per_analyte
where n >= $min and bad > $share * n
order by bad / n desc, analyte
limit 1
