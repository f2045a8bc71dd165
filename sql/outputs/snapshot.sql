-- The analysts' snapshot (fh_screening/snapshot.py): what of the store is published after
-- a run's outputs commit, one temporary view per published table (`snapshot_<table>`).
-- Each is written as immutable Parquet parts (one per source file where the table has a
-- `source_file` column, else one), reused by the next snapshot when its rows are unchanged.
-- No CPR number is in any of these tables (they hold pseudonyms); the quarantine's `raw`
-- (the offending source value) and the superseded rows as stored are left out, since a
-- source value may be free text or an address. Not published: key_check, stable_ids,
-- returned_files, screening_state.
create or replace temp view snapshot_practices as select * from practices;
create or replace temp view snapshot_patients as select * from patients;
create or replace temp view snapshot_lab_results as select * from lab_results;
create or replace temp view snapshot_prescriptions as select * from prescriptions;
create or replace temp view snapshot_diagnoses as select * from diagnoses;
create or replace temp view snapshot_relations as select * from relations;
create or replace temp view snapshot_genetic_tests as select * from genetic_tests;
create or replace temp view snapshot_index_ldl as select * from index_ldl;
create or replace temp view snapshot_ldl_history as select * from ldl_history;
create or replace temp view snapshot_secondary_causes as select * from secondary_causes;
create or replace temp view snapshot_person_facts as select * from person_facts;
create or replace temp view snapshot_screening_results as select * from screening_results;
create or replace temp view snapshot_model_scores as select * from model_scores;
create or replace temp view snapshot_referral_history as select * from referral_history;
create or replace temp view snapshot_referral_backlog as select * from referral_backlog;
create or replace temp view snapshot_gp_report_history as select * from gp_report_history;
create or replace temp view snapshot_clinic_returns as select * from clinic_returns;
create or replace temp view snapshot_ingested_files as select * from ingested_files;
create or replace temp view snapshot_runs as select * from runs;
create or replace temp view snapshot_quarantine as select * exclude (raw) from quarantine;
