-- Family links. The relative need not be in this region's patients extract (families
-- cross regions), so only the shape of both CPR numbers is checked.
create or replace temp table parsed as
with typed as (
    select
        _row, _raw,
        cpr_digits(cpr) as _cpr,
        cpr_problem(cpr) as cpr_problem,
        cpr_digits(relative_cpr) as _relative_cpr,
        cpr_problem(relative_cpr) as relative_problem,
        (select canonical from value_map v where v.kind = 'relation' and v.source_value = trim(stg.relation)) as relation
    from stg
),
keyed as (
    select
        *,
        case when cpr_problem is null then pseudonym(_cpr, $ipad, $opad) end as person_id,
        case when relative_problem is null then pseudonym(_relative_cpr, $ipad, $opad) end as relative_id
    from typed
)
select
    person_id, relative_id, relation, _row, _raw, _cpr, _relative_cpr, person_id as _pid,
    case
        when cpr_problem is not null then {'field': 'cpr', 'reason': cpr_problem}
        when relative_problem is not null then {'field': 'relative_cpr', 'reason': relative_problem}
        when relation is null then {'field': 'relation', 'reason': 'unknown relation code'}
        when person_id = relative_id then {'field': 'relative_cpr', 'reason': 'a person cannot be their own relative'}
        when row_number() over (partition by person_id, relative_id, relation order by _row) > 1
            or exists (select 1 from relations r where r.person_id = keyed.person_id
                       and r.relative_id = keyed.relative_id and r.relation = keyed.relation)
            then {'field': 'relation', 'reason': 'duplicate of an earlier row'}
    end as _problem
from keyed;
