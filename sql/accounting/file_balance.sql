-- Ingested files whose stored rows disagree with their ingest record
-- (fh_screening/accounting.py): read must equal accepted + quarantined; the quarantine
-- must hold exactly the quarantined rows; an event table exactly the accepted rows, a
-- snapshot table (patients, practices) at most that many (newer files replace rows).
-- A snapshot file ingested more than once (re-exported with new content) is summed over
-- versions. An event file delivered again replaces its earlier version (ingest.py), so
-- only its current version counts; its rows a later delivery corrected are in
-- `superseded_rows` (with the version they came from) and still count as accepted.
with versions as (
    select * from ingested_files
    where region in (select unnest($regions))
      and (superseded_by is null or table_name in ('patients', 'practices'))
),
files as (
    select path, table_name, sum(rows_read) as rows_read, sum(rows_accepted) as rows_accepted,
           sum(rows_quarantined) as rows_quarantined
    from versions
    group by path, table_name
),
stored_rows as (
    select source_file, 'practices' as table_name, count(*) as n from practices group by all
    union all select source_file, 'patients', count(*) from patients group by all
    union all select source_file, 'lab_results', count(*) from lab_results group by all
    union all select source_file, 'prescriptions', count(*) from prescriptions group by all
    union all select source_file, 'diagnoses', count(*) from diagnoses group by all
    union all select source_file, 'relations', count(*) from relations group by all
    union all select source_file, 'genetic_tests', count(*) from genetic_tests group by all
    union all select source_file, table_name, count(*) from superseded_rows
        where reason = 'corrected by a later delivery'
          and file_checksum in (select checksum from versions)
        group by all
),
stored as (
    select source_file, table_name, sum(n) as n from stored_rows group by all
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
