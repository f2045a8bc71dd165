-- Ingested files whose stored rows disagree with their ingest record
-- (fh_screening/accounting.py): read must equal accepted + quarantined; the quarantine
-- must hold exactly the quarantined rows; an event table exactly the accepted rows, a
-- snapshot table (patients, practices) at most that many (newer files replace rows).
-- A path ingested more than once (re-exported with new content) is summed over versions.
with files as (
    select path, table_name, sum(rows_read) as rows_read, sum(rows_accepted) as rows_accepted,
           sum(rows_quarantined) as rows_quarantined
    from ingested_files
    where region in (select unnest($regions))
    group by path, table_name
),
stored as (
    select source_file, 'practices' as table_name, count(*) as n from practices group by all
    union all select source_file, 'patients', count(*) from patients group by all
    union all select source_file, 'lab_results', count(*) from lab_results group by all
    union all select source_file, 'prescriptions', count(*) from prescriptions group by all
    union all select source_file, 'diagnoses', count(*) from diagnoses group by all
    union all select source_file, 'relations', count(*) from relations group by all
    union all select source_file, 'genetic_tests', count(*) from genetic_tests group by all
),
quarantined as (
    select source_file, count(*) as n from quarantine group by all
)
select f.path, f.table_name, f.rows_read, f.rows_accepted, f.rows_quarantined,
       coalesce(s.n, 0) as stored, coalesce(q.n, 0) as quarantine_rows
from files f
left join stored s on s.source_file = f.path and s.table_name = f.table_name
left join quarantined q on q.source_file = f.path
where f.rows_read <> f.rows_accepted + f.rows_quarantined
   or coalesce(q.n, 0) <> f.rows_quarantined
   or (f.table_name in ('patients', 'practices') and coalesce(s.n, 0) > f.rows_accepted)
   or (f.table_name not in ('patients', 'practices') and coalesce(s.n, 0) <> f.rows_accepted)
order by f.path
