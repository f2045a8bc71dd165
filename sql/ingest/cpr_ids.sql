-- One row per distinct CPR field of the file (view `stg_cprs`: the `cpr` column, and
-- `relative_cpr` for relations): its digits, why it cannot be accepted (NULL when it
-- can), and its pseudonym. The table files join this instead of hashing every row: a
-- national lab file holds each person about ten times, and the keyed HMAC (two SHA-256)
-- is the most expensive expression of the ingest. An empty or missing field is ''.
create or replace temp table cpr_ids as
with fields as (
    select distinct coalesce(raw, '') as raw from stg_cprs
)
select
    raw,
    cpr_digits(raw) as digits,
    cpr_problem(raw) as problem,
    case when cpr_problem(raw) is null then pseudonym(cpr_digits(raw), $ipad, $opad) end as person_id
from fields;
