-- Every distinct CPR field met so far in this region's files (view `stg_cprs`: the
-- `cpr` column, and `relative_cpr` for relations): a number standing for it (`ref`), its
-- digits, why it cannot be accepted (NULL when it can), its pseudonym and the birth date
-- and sex it encodes. An empty or missing field is ''. The table files join this instead
-- of hashing every row: a national lab file holds each person about ten times, the same
-- people are in the patients, lab and family files, and the keyed HMAC (two SHA-256) is
-- the most expensive expression of the ingest.
--
-- Runs on the ingest's CPR side: a separate in-memory DuckDB (fh_screening/ingest.py),
-- never the store's connection. The store connection receives this table without `raw`
-- and `digits`, and the file's rows with `ref` in place of each CPR field, so no CPR
-- number enters the store's buffers (whose freed pages can reach the store file).
create temp table if not exists cpr_ids (
    ref        bigint  not null,
    raw        varchar not null,
    digits     varchar,
    problem    varchar,
    person_id  bigint,
    birth_date date,
    sex        varchar
);

insert into cpr_ids
with fields as (
    select d.raw
    from (select distinct coalesce(s.raw, '') as raw from stg_cprs s) d
    where d.raw not in (select c.raw from cpr_ids c)
),
numbered as (
    select raw, (select coalesce(max(ref), 0) from cpr_ids) + row_number() over (order by raw) as ref
    from fields
)
select
    ref,
    raw,
    cpr_digits(raw) as digits,
    cpr_problem(raw) as problem,
    case when cpr_problem(raw) is null then pseudonym(cpr_digits(raw), $ipad, $opad) end as person_id,
    case when cpr_problem(raw) is null then cpr_birth_date(cpr_digits(raw)) end as birth_date,
    case when cpr_problem(raw) is null then cpr_sex(cpr_digits(raw)) end as sex
from numbered;
