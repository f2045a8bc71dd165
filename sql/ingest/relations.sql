-- Family links. The relative need not be in this region's patients extract (families
-- cross regions), so only the shape of both CPR numbers is checked.
create or replace temp table parsed as
with typed as (
    select
        stg._row,
        k.digits as _cpr,
        k.problem as cpr_problem,
        k.person_id,
        r.digits as _relative_cpr,
        r.problem as relative_problem,
        r.person_id as relative_id,
        k.birth_date as person_birth,
        r.birth_date as relative_birth,
        (select canonical from value_map v where v.kind = 'relation' and v.source_value = trim(stg.relation)) as relation
    from stg
    left join cpr_ids k on k.raw = coalesce(stg.cpr, '')
    left join cpr_ids r on r.raw = coalesce(stg.relative_cpr, '')
),
shaped as (
    select
        *,
        -- the link as a parent -> child edge ("mother"/"father": the relative is the
        -- parent), with both birth dates from the CPR numbers
        case when relation in ('mother', 'father') then relative_birth
             when relation = 'child' then person_birth end as parent_birth,
        case when relation in ('mother', 'father') then person_birth
             when relation = 'child' then relative_birth end as child_birth
    from typed
),
-- Links already stored, from any region (families cross regions; a link sent by two
-- regions is one link), only for the people of this file; not those of an earlier
-- version of this same file, which this delivery replaces (ingest.py).
stored as (
    select person_id, relative_id, relation from relations
    where person_id in (select person_id from typed) and source_file <> $source_file
)
-- Parent links must not form a cycle (nobody is their own ancestor). A parent is born
-- before their child, so along parent -> child links birth dates only increase and no
-- chain of links that each respect it can return to its start: checking each link's
-- birth order (from the CPR numbers, which every person and relative has) rules out every
-- cycle, of any length, without walking the family graph; it also refuses a single link
-- with parent and child swapped. A row is checked on its own, so the row that breaks the
-- order is the one quarantined and the consistent rows are kept.
select
    s.person_id, s.relative_id, s.relation, s._row, s._cpr, s._relative_cpr, s.person_id as _pid,
    case
        when s.cpr_problem is not null then {'field': 'cpr', 'reason': s.cpr_problem}
        when s.relative_problem is not null then {'field': 'relative_cpr', 'reason': s.relative_problem}
        when s.relation is null then {'field': 'relation', 'reason': 'unknown relation code'}
        when s.person_id = s.relative_id then {'field': 'relative_cpr', 'reason': 'a person cannot be their own relative'}
        when row_number() over (partition by s.person_id, s.relative_id, s.relation order by s._row) > 1
            or d.person_id is not null
            then {'field': 'relation', 'reason': 'duplicate of an earlier row'}
        when s.parent_birth >= s.child_birth
            then {'field': 'relative_cpr',
                  'reason': 'relation cycle: the parent is not born before the child (a person would be their own ancestor)'}
    end as _problem
from shaped s
left join stored d
  on d.person_id = s.person_id and d.relative_id = s.relative_id and d.relation = s.relation;
