-- Family links. The relative need not be in this region's patients extract (families
-- cross regions), so only the shape of both CPR numbers is checked.
create or replace temp table parsed as
with recursive typed as (
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
),
shaped as (
    select
        *,
        case
            when cpr_problem is not null then {'field': 'cpr', 'reason': cpr_problem}
            when relative_problem is not null then {'field': 'relative_cpr', 'reason': relative_problem}
            when relation is null then {'field': 'relation', 'reason': 'unknown relation code'}
            when person_id = relative_id then {'field': 'relative_cpr', 'reason': 'a person cannot be their own relative'}
            when row_number() over (partition by person_id, relative_id, relation order by _row) > 1
                or exists (select 1 from relations r where r.person_id = keyed.person_id
                           and r.relative_id = keyed.relative_id and r.relation = keyed.relation)
                then {'field': 'relation', 'reason': 'duplicate of an earlier row'}
        end as problem0,
        -- the link as a parent -> child edge ("mother"/"father": the relative is the parent)
        case when relation in ('mother', 'father') then relative_id
             when relation = 'child' then person_id end as parent_id,
        case when relation in ('mother', 'father') then person_id
             when relation = 'child' then relative_id end as child_id
    from keyed
),
-- Parent links must not form a cycle (nobody is their own ancestor). A row is refused
-- when its child is already an ancestor of its parent through the stored links and the
-- earlier rows of this file: the first row that closes a cycle is the one quarantined,
-- so the accepted links stay acyclic and the earlier, consistent rows are kept.
edges as (
    select parent_id, child_id, _row from shaped where problem0 is null and parent_id is not null
    union all
    select case when relation = 'child' then person_id else relative_id end,
           case when relation = 'child' then relative_id else person_id end, 0
    from relations where relation in ('mother', 'father', 'child')
),
descendants(k, node) as (
    select _row, child_id from shaped where problem0 is null and parent_id is not null
    union
    select d.k, e.child_id from descendants d join edges e on e.parent_id = d.node and e._row < d.k
),
cyclic as (
    select distinct s._row from shaped s join descendants d on d.k = s._row and d.node = s.parent_id
)
select
    person_id, relative_id, relation, _row, _raw, _cpr, _relative_cpr, person_id as _pid,
    case
        when problem0 is not null then problem0
        when _row in (select _row from cyclic)
            then {'field': 'relative_cpr', 'reason': 'relation cycle: a person would be their own ancestor'}
    end as _problem
from shaped;
