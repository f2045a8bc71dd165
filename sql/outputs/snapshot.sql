-- The analysts' snapshot (fh_screening/snapshot.py): the pseudonymised tables of the store,
-- copied into the attached database `snap` after a run's outputs commit. Analysts query it
-- read-only while the next run writes the store. No CPR number is in any of these tables
-- (they hold pseudonyms); the quarantine's `raw` (the offending source value) and the
-- superseded rows as stored are left out, since a source value may be free text or an
-- address. Not copied: key_check, stable_ids, returned_files, screening_state.
create table snap.practices as select * from practices;
create table snap.patients as select * from patients;
create table snap.lab_results as select * from lab_results;
create table snap.prescriptions as select * from prescriptions;
create table snap.diagnoses as select * from diagnoses;
create table snap.relations as select * from relations;
create table snap.genetic_tests as select * from genetic_tests;
create table snap.index_ldl as select * from index_ldl;
create table snap.ldl_history as select * from ldl_history;
create table snap.secondary_causes as select * from secondary_causes;
create table snap.person_facts as select * from person_facts;
create table snap.screening_results as select * from screening_results;
create table snap.model_scores as select * from model_scores;
create table snap.referral_history as select * from referral_history;
create table snap.referral_backlog as select * from referral_backlog;
create table snap.gp_report_history as select * from gp_report_history;
create table snap.clinic_returns as select * from clinic_returns;
create table snap.ingested_files as select * from ingested_files;
create table snap.runs as select * from runs;
create table snap.quarantine as select * exclude (raw) from quarantine;
create table snap.snapshot_info as
    select $run_id as run_id, now()::timestamp as made_at, $store_format as made_by;
