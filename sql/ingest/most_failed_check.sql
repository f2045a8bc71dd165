-- The one check (field, reason) that quarantines most rows of a file, for the plausibility
-- rule that refuses a file whole (ingest._refuse_systematic). Duplicates of earlier
-- rows do not count: an overlap is handled row by row, not an export error.
select _problem.field, _problem.reason, count(*) as n
from checked
where _problem is not null
  and _problem.reason <> 'duplicate of an earlier row'
group by all
order by 3 desc, 1, 2
limit 1
