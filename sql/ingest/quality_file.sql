-- Quality gate of one file (fh_screening/quality.py): its rows quarantined, and the field
-- and reason most often behind them. Duplicates of earlier rows do not count (an overlap
-- is handled row by row, not a mapping error).
select
    count(*) as quarantined,
    mode(_problem.field) as field,
    mode(_problem.reason) as reason
from checked
where _problem is not null
  and _problem.reason <> 'duplicate of an earlier row'
