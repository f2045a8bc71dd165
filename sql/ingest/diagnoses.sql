-- Diagnoses as dotted ICD-10 codes ("E78.0"), whatever style the region sends.
create or replace temp table parsed as
with typed as (
    select
        _row,
        k.problem as cpr_problem,
        k.person_id,
        parse_icd10(icd10, $icd10_style) as icd10,
        case when diagnosed_at_typed is not null then diagnosed_at_typed
             else parse_date(diagnosed_at, $date_format) end as diagnosed_at
    from stg
    left join cpr_ids k on k.ref = stg.cpr
)
select
    t.person_id, t.icd10, t.diagnosed_at, t._row, t.person_id as _pid,
    case
        when t.cpr_problem is not null then {'field': 'cpr', 'reason': t.cpr_problem}
        when p.person_id is null then {'field': 'cpr', 'reason': 'person not in the patients extract'}
        when t.icd10 is null then {'field': 'icd10', 'reason': 'not an ICD-10 code in ' || $icd10_style || ' style'}
        when t.diagnosed_at is null
            then {'field': 'diagnosed_at', 'reason': 'not a date in the format ' || $date_format}
        when t.diagnosed_at > $today then {'field': 'diagnosed_at', 'reason': 'date in the future'}
        when t.diagnosed_at < p.birth_date then {'field': 'diagnosed_at', 'reason': 'date before birth'}
        when t.diagnosed_at > p.deceased_date then {'field': 'diagnosed_at', 'reason': 'date after death'}
    end as _problem
from typed t
left join patients p on p.person_id = t.person_id;
