-- Genetic test results for FH variants (LDLR, APOB, PCSK9): the model's labels.
create or replace temp table parsed as
with typed as (
    select
        _row,
        k.problem as cpr_problem,
        k.person_id,
        case when tested_at_typed is not null then tested_at_typed
             else parse_date(tested_at, $date_format) end as tested_at,
        (select canonical from value_map v where v.kind = 'genetic_result' and v.source_value = trim(stg.result)) as result
    from stg
    left join cpr_ids k on k.ref = stg.cpr
)
select
    t.person_id, t.tested_at, t.result, t._row, t.person_id as _pid,
    case
        when t.cpr_problem is not null then {'field': 'cpr', 'reason': t.cpr_problem}
        when p.person_id is null then {'field': 'cpr', 'reason': 'person not in the patients extract'}
        when t.tested_at is null then {'field': 'tested_at', 'reason': 'not a date in the format ' || $date_format}
        when t.tested_at > $today then {'field': 'tested_at', 'reason': 'date in the future'}
        when t.tested_at < p.birth_date then {'field': 'tested_at', 'reason': 'date before birth'}
        when t.tested_at > p.deceased_date then {'field': 'tested_at', 'reason': 'date after death'}
        when t.result is null then {'field': 'result', 'reason': 'unknown test result code'}
    end as _problem
from typed t
left join patients p on p.person_id = t.person_id;
