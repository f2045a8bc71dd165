-- Canonical store schema (DESIGN.md). person_id is a pseudonym (keyed HMAC of the CPR
-- number, see fh_screening/privacy.py); no CPR number is ever stored here.
-- Idempotent: run at every connection.

create table if not exists practices (
    gp_practice_id   varchar not null,
    practice_name    varchar,
    lipid_clinic_id  varchar not null,
    region           varchar not null,
    source_file      varchar not null,
    row_number       bigint  not null,
    primary key (region, gp_practice_id)
);

-- person_id is unique (ingest quarantines a second row of a person in a file and a newer
-- snapshot replaces the older row; accounting.check_store verifies it before screening).
-- Not declared as a primary key: DuckDB's index costs more than the whole rest of the
-- patients insert at national size (about 10 s per 3 million people).
create table if not exists patients (
    person_id        bigint  not null,
    birth_date       date    not null,
    sex              varchar not null,
    region           varchar not null,
    gp_practice_id   varchar,
    deceased_date    date,
    source_file      varchar not null,
    row_number       bigint  not null
);

create table if not exists lab_results (
    person_id        bigint    not null,
    sampled_at       timestamp not null,
    analyte          varchar   not null,
    value            double    not null,   -- in the analyte's canonical unit (config/units.toml)
    unit             varchar   not null,
    source_code      varchar   not null,
    source_unit      varchar,
    source_value     varchar   not null,
    region           varchar   not null,
    source_file      varchar   not null,
    row_number       bigint    not null
);

create table if not exists prescriptions (
    person_id        bigint  not null,
    atc_code         varchar not null,
    strength_mg      double,
    start_date       date    not null,
    end_date         date,
    region           varchar not null,
    source_file      varchar not null,
    row_number       bigint  not null
);

create table if not exists diagnoses (
    person_id        bigint  not null,
    icd10            varchar not null,
    diagnosed_at     date    not null,
    region           varchar not null,
    source_file      varchar not null,
    row_number       bigint  not null
);

create table if not exists relations (
    person_id        bigint  not null,
    relative_id      bigint  not null,
    relation         varchar not null,
    region           varchar not null,
    source_file      varchar not null,
    row_number       bigint  not null
);

create table if not exists genetic_tests (
    person_id        bigint  not null,
    tested_at        date    not null,
    result           varchar not null,
    region           varchar not null,
    source_file      varchar not null,
    row_number       bigint  not null
);

-- Rows that could not be accepted, with the reason. raw holds {source column: value} of
-- the offending field only, when that value cannot be an identifier (else NULL; rows of
-- earlier versions may hold more); person_id is the pseudonym when the CPR was valid.
create table if not exists quarantine (
    source_file      varchar not null,
    table_name       varchar not null,
    row_number       bigint,
    field            varchar,
    reason           varchar not null,
    person_id        bigint,
    raw              varchar,
    region           varchar not null
);

create table if not exists ingested_files (
    checksum         varchar not null primary key,
    path             varchar not null,
    region           varchar not null,
    table_name       varchar not null,
    rows_read        bigint  not null,
    rows_accepted    bigint  not null,
    rows_quarantined bigint  not null,
    ingested_at      timestamp not null
);

create table if not exists runs (
    run_id           varchar not null primary key,
    scope            varchar not null,
    as_of            date    not null,
    params           varchar,
    code_version     varchar,
    model_version    varchar,
    counts           varchar,
    status           varchar not null,
    started_at       timestamp,
    finished_at      timestamp,
    output_path      varchar
);

create table if not exists referral_history (
    person_id        bigint  not null,
    run_id           varchar not null,
    tier             varchar not null,
    index_ldl        double,
    sent_at          date    not null,
    primary key (person_id, run_id)
);

-- Referral candidates a run did not list because their clinic's capacity was reached
-- (sql/outputs/referral_list.sql): the ranked backlog the next runs draw from first, with
-- since when each person waits. Replaced per run id in the outputs transaction.
create table if not exists referral_backlog (
    person_id        bigint  not null,
    run_id           varchar not null,
    lipid_clinic_id  varchar,
    tier             varchar not null,
    backlog_rank     bigint  not null,
    waiting_since    date    not null,
    as_of            date    not null
);

-- The risk model's output for the last screening run (fh_screening/model.py writes it,
-- replacing the rows of the screened regions). priority_tier combines the rule sets and
-- the probability (docs/model.md): 'high', 'standard', or null when not to be referred;
-- refer is the final referral decision (rules or model, and no exclusion).
-- model_reason_features: the features that raised the probability most, as data
-- (feature name, the person's value, odds ratio); the outputs word them in the reader's
-- language (fh_screening/i18n.py).
create table if not exists model_scores (
    person_id        bigint  not null,            -- unique: one row per screened person
    region           varchar not null,
    fh_probability   double  not null,
    model_reason_features struct(feature varchar, value double, odds_ratio double)[] not null,
    priority_tier    varchar,
    refer            boolean not null,
    model_version    varchar not null,
    as_of            date    not null
);

-- Lineage of each run (fh_screening/lineage.py): input files with checksums, config hash,
-- code and model version, output paths, as JSON. Added after the first release, so stores
-- created before it gain the column here.
alter table runs add column if not exists lineage varchar;

-- Model reasons were stored as English sentences (model_reasons varchar[]) before they
-- became data; stores from then gain the new column and lose the old one. Their rows are
-- replaced the next time the model scores the region (until then: no model reasons).
alter table model_scores add column if not exists
    model_reason_features struct(feature varchar, value double, odds_ratio double)[];
alter table model_scores drop column if exists model_reasons;

-- The probability's spread over the model's members (fh_screening/model.py Ensemble),
-- shown beside it; stores from before gain the columns, filled at the next scoring.
alter table model_scores add column if not exists fh_probability_low double;
alter table model_scores add column if not exists fh_probability_high double;

-- The last screening (fh_screening/pipeline.py): the next one recomputes only what changed
-- when it screens the same regions under the same rules (config, expectations, SQL and
-- criteria code: rules_hash) and model, as of the same or a later date. Replaced in the
-- screening's own transaction, so a crash before its commit leaves the previous
-- screening and its row in place.
create table if not exists screening_state (
    regions        varchar   not null,   -- JSON list, sorted
    as_of          date      not null,
    rules_hash     varchar   not null,
    model_version  varchar   not null,
    ingested_upto  timestamp not null    -- newest ingested_files.ingested_at it saw
);

-- What each screened person contributes to their relatives' results
-- (sql/criteria/07_person_facts.sql); compared by the next monthly screening.
create table if not exists person_facts (
    person_id        bigint  not null,
    premature_chd    boolean,
    first_mi_age     bigint,
    age_at_index     bigint,
    ldl_above_p95    boolean,
    has_ldl_history  boolean,
    untreated_ldl    double,
    tc_adult         double,
    tc_child         double,
    known_fh         boolean
);
-- Before the untreated-LDL evidence (03_index_ldl) a relative's fact was their highest
-- per-sample estimate; a store from then is rescreened in full (its rules hash differs),
-- which replaces the table, so only the declaration changes here.

-- The pseudonym key this store was built with, as a fingerprint (HMAC-SHA256 of a fixed
-- text under the key: it identifies the key without revealing it or any pseudonym). A run
-- under any other key is refused (fh_screening/workspace_key.py). Stores made before this
-- gain the table and record their key at the next ingest, once the vault confirms it.
create table if not exists key_check (
    fingerprint      varchar   not null,
    recorded_at      timestamp not null
);

-- Rows a later delivery replaced (issue 20, "corrections are data"): a stored event row
-- whose key (same person, time and code; fh_screening/ingest.py EVENT_KEYS) a later file
-- gave other values, or a row of a file delivered again (same path, new content) that
-- the new version no longer has. The row as it was stored (pseudonymised, as JSON), its
-- file and the version of that file (checksum), and what replaced it.
create table if not exists superseded_rows (
    table_name         varchar   not null,
    source_file        varchar   not null,
    file_checksum      varchar,
    row_number         bigint    not null,
    person_id          bigint,
    stored_row         varchar   not null,
    reason             varchar   not null,
    superseded_by_file varchar   not null,
    superseded_by_row  bigint,
    superseded_at      timestamp not null
);

-- A file delivered again under the same path replaces its earlier version (event tables):
-- the earlier version's record is kept, marked with the checksum that replaced it.
-- Stores made before this gain the column (every earlier version counts as current).
alter table ingested_files add column if not exists superseded_by varchar;

-- Stores made before issue 20 kept whole source rows in quarantine.raw, some with CPR
-- numbers of unmapped columns: such values are removed (the reason, file, row and field
-- stay). Cheap when nothing matches, as in every store made since.
update quarantine set raw = null where regexp_matches(raw, '[0-9]{6}-?[0-9]{4}');

-- Stable identifiers (issue 21; sql/outputs/stable_ids.sql): referral ids (kind
-- 'referral', scope = lipid clinic), family ids (kind 'family', scope '') and relative ids
-- (kind 'relative', scope = family id), issued once and kept, so a family letter, a list
-- and a clinic's return keep naming the same person and family in every later run.
create table if not exists stable_ids (
    kind             varchar not null,
    person_id        bigint  not null,
    scope            varchar not null,
    code             varchar not null,
    first_run_id     varchar not null,
    first_as_of      date    not null
);

-- What each referral was sent as (issue 21): its id, clinic, practice and the rule sets
-- that flagged the person, for the yield report (PPV per clinic, practice, tier, rule
-- set). Stores from before gain the columns; their earlier rows stay null there.
alter table referral_history add column if not exists referral_id varchar;
alter table referral_history add column if not exists lipid_clinic_id varchar;
alter table referral_history add column if not exists gp_practice_id varchar;
alter table referral_history add column if not exists flagged_by varchar[];

-- Clinic returns (issue 21; fh_screening/returns.py): the returned workbooks and CSV files
-- a data team drops into <home>/returns/<lipid clinic>/, once each by checksum, and their
-- answered rows. Every row a file held is answered, blank (nothing filled in) or
-- quarantined (in `quarantine`, table_name 'clinic_returns', region = the clinic).
create table if not exists returned_files (
    checksum          varchar   not null primary key,
    path              varchar   not null,
    lipid_clinic_id   varchar   not null,
    rows_read         bigint    not null,
    rows_answered     bigint    not null,
    rows_blank        bigint    not null,
    rows_quarantined  bigint    not null,
    received_seq      bigint    not null,
    ingested_at       timestamp not null
);

-- One row per answered row of a return: kind 'referral' (key: referral id), 'family'
-- (family id: the index patient's consent) or 'relative' (relative id). A later return of
-- the same key supersedes an earlier one (higher received_seq); earlier rows are kept.
create table if not exists clinic_returns (
    kind               varchar not null,
    return_key         varchar not null,
    person_id          bigint  not null,
    lipid_clinic_id    varchar not null,
    contact            varchar,   -- seen | declined | not_reached
    diagnosis          varchar,   -- fh_confirmed | not_fh | secondary_cause
    dlcn_points        integer,   -- the clinic's own DLCN score
    genetic_test       varchar,   -- positive | negative | uncertain | not_done
    treatment_started  boolean,
    consent            varchar,   -- yes | letter_only | no (index patients)
    outcome_date       date,
    source_file        varchar not null,
    row_number         bigint  not null,
    file_checksum      varchar not null,
    received_seq       bigint  not null
);

-- The latest answer per key, and its meaning: confirmed (FH confirmed clinically or a
-- positive genetic test), negative (not FH, a secondary cause, or a negative test without
-- a clinical diagnosis), or open (seen without a result yet, declined, not reached,
-- uncertain test). docs/outputs.md, "Clinic returns".
create or replace view current_returns as
select
    *,
    case when diagnosis = 'fh_confirmed' or genetic_test = 'positive' then 'confirmed'
         when diagnosis in ('not_fh', 'secondary_cause')
              or (genetic_test = 'negative' and diagnosis is null) then 'negative'
         else 'open' end as finding
from clinic_returns
qualify row_number() over (partition by kind, return_key
                           order by received_seq desc, row_number desc) = 1;

-- What each GP report showed (issue 21): the next report marks patients new or changed
-- since the practice's previous report. Replaced per run id in the outputs transaction.
create table if not exists gp_report_history (
    run_id           varchar not null,
    as_of            date    not null,
    gp_practice_id   varchar,
    person_id        bigint  not null,
    priority_tier    varchar,
    refer            boolean,
    untreated_ldl    double,
    ldl_samples      bigint,
    exclusions       varchar
);
