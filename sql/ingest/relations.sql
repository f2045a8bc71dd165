-- Family links. The relative need not be in this region's patients extract (families
-- cross regions), so only the shape of both CPR numbers is checked.
create or replace temp table parsed as
with typed as (
    select
        stg._row,
        k.problem as cpr_problem,
        k.person_id,
        r.problem as relative_problem,
        r.person_id as relative_id,
        k.birth_date as person_birth,
        r.birth_date as relative_birth,
        k.sex as person_sex,
        r.sex as relative_sex,
        (select canonical from value_map v where v.kind = 'relation' and v.source_value = trim(stg.relation)) as relation
    from stg
    left join cpr_ids k on k.ref = stg.cpr
    left join cpr_ids r on r.ref = stg.relative_cpr
),
shaped as (
    select
        *,
        -- the link as a parent -> child edge ("mother"/"father": the relative is the
        -- parent), with both birth dates from the CPR numbers
        case when relation in ('mother', 'father') then relative_birth
             when relation = 'child' then person_birth end as parent_birth,
        case when relation in ('mother', 'father') then person_birth
             when relation = 'child' then relative_birth end as child_birth,
        -- the same edge by pseudonyms, with the parent's role: a mother or father link
        -- says it; a child link gives it by the parent's sex (from the CPR number)
        case when relation in ('mother', 'father') then person_id
             when relation = 'child' then relative_id end as child_id,
        case when relation in ('mother', 'father') then relative_id
             when relation = 'child' then person_id end as parent_id,
        case when relation in ('mother', 'father') then relation
             when relation = 'child' then case person_sex when 'F' then 'mother' else 'father' end
        end as parent_role
    from typed
),
-- Links already stored, from any region (families cross regions; a link sent by two
-- regions is one link), only for the people of this file; not those of an earlier
-- version of this same file, which this delivery replaces (ingest.py).
stored as (
    select person_id, relative_id, relation from relations
    where person_id in (select person_id from typed) and source_file <> $source_file
),
-- One mother and one father per person. The parents already stored (mother and father
-- links; child links whose parent's sex the patients table knows), and this file's.
stored_parents as (
    select person_id as child_id, relative_id as parent_id, relation as parent_role
    from relations
    where relation in ('mother', 'father') and source_file <> $source_file
      and person_id in (select child_id from shaped)
    union
    select l.relative_id, l.person_id, case p.sex when 'F' then 'mother' else 'father' end
    from relations l join patients p on p.person_id = l.person_id
    where l.relation = 'child' and l.source_file <> $source_file
      and l.relative_id in (select child_id from shaped)
),
file_parents as (
    select child_id, parent_role, count(distinct parent_id) as n
    from shaped where parent_role is not null and relative_problem is null
      and cpr_problem is null
      and not (relation = 'mother' and relative_sex <> 'F')
      and not (relation = 'father' and relative_sex <> 'M')
    group by all
)
-- Parent links must not form a cycle (nobody is their own ancestor). A parent is born
-- before their child, so along parent -> child links birth dates only increase and no
-- chain of links that each respect it can return to its start: checking each link's
-- birth order (from the CPR numbers, which every person and relative has) rules out every
-- cycle, of any length, without walking the family graph; it also refuses a single link
-- with parent and child swapped. A row is checked on its own, so the row that breaks the
-- order is the one quarantined and the consistent rows are kept.
select
    s.person_id, s.relative_id, s.relation, s._row, s.person_id as _pid,
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
        -- a mother is a woman, a father a man, by the CPR number's last digit (a person who
        -- changed legal sex has a new CPR number: such a link needs checking by hand)
        when s.relation = 'mother' and s.relative_sex <> 'F'
            then {'field': 'relation', 'reason': 'a mother whose CPR number is a man''s'}
        when s.relation = 'father' and s.relative_sex <> 'M'
            then {'field': 'relation', 'reason': 'a father whose CPR number is a woman''s'}
        when exists (select 1 from stored_parents sp where sp.child_id = s.child_id
                     and sp.parent_role = s.parent_role and sp.parent_id <> s.parent_id)
            then {'field': 'relative_cpr', 'reason': 'a second ' || s.parent_role || ': another is already stored'}
        when fp.n > 1
            then {'field': 'relative_cpr', 'reason': 'conflicting ' || s.parent_role || 's for one person in this file'}
    end as _problem
from shaped s
left join stored d
  on d.person_id = s.person_id and d.relative_id = s.relative_id and d.relation = s.relation
left join file_parents fp on fp.child_id = s.child_id and fp.parent_role = s.parent_role;
