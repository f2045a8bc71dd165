-- The analysts' snapshot file's own tables (fh_screening/snapshot.py), in the attached
-- database `snap`: which run it shows, and which Parquet part holds which table's rows.
create table snap.snapshot_info as
    select $run_id as run_id, now()::timestamp as made_at, $store_format as made_by;
create table snap.snapshot_parts as
    select * from snapshot_part_list;
