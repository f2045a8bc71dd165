-- What each person's relatives contribute. First-degree: mother, father, sibling, child
-- (from `relations`). Second-degree, two hops: grandparents and aunts/uncles (a parent's
-- parents and siblings), grandchildren, nieces and nephews.
-- Per relative: premature CHD, MI age, index untreated LDL above the 95th percentile for
-- their sex and age band (int_ldl_percentiles), untreated total cholesterol as adult
-- (>= $simon_broome_adult_from_age) and child, and known FH (E78.0 or a positive test).
-- For the people in `scope_b`; their relatives' facts come from the store
-- (`person_facts`, 07_person_facts.sql), so a monthly run needs only the families it
-- touches.
-- In three statements: the link tables are materialised (and can spill to disk) instead
-- of being held as common table expressions at national size.
create or replace temp table fam_first_degree as
select distinct person_id, relative_id, relation
from relations
where relation in ('mother', 'father', 'sibling', 'child')
  and person_id in (select person_id from scope_b);

-- Two hops by kind, each a plain equality join (one join with the kinds in its condition
-- took most of this step at national size). `relations` holds each link once (ingest
-- quarantines repeats), so the hop needs no distinct. A second-degree relative is never
-- the person or a first-degree relative as well (only inconsistent data gives that):
-- compared by hash first, then exactly for the few whose hash matches.
create or replace temp table fam_second_degree as
with two_hops as (
    select a.person_id, b.relative_id
    from fam_first_degree a
    join relations b on b.person_id = a.relative_id
    where a.relation in ('mother', 'father') and b.relation in ('mother', 'father', 'sibling')
    union all
    select a.person_id, b.relative_id
    from fam_first_degree a
    join relations b on b.person_id = a.relative_id
    where a.relation = 'child' and b.relation = 'child'
    union all
    select a.person_id, b.relative_id
    from fam_first_degree a
    join relations b on b.person_id = a.relative_id
    where a.relation = 'sibling' and b.relation = 'child'
)
select distinct person_id, relative_id from two_hops where relative_id <> person_id;

create or replace temp table fam_also_first_degree as
select s.person_id, s.relative_id
from fam_second_degree s
where hash(s.person_id, s.relative_id) in
        (select hash(person_id, relative_id) from fam_first_degree)
  and exists (select 1 from fam_first_degree f
              where f.person_id = s.person_id and f.relative_id = s.relative_id);

delete from fam_second_degree s
where exists (select 1 from fam_also_first_degree x
              where x.person_id = s.person_id and x.relative_id = s.relative_id);

create or replace temp table int_family_history as
with relatives_of_scope as (
    select relative_id as person_id from fam_first_degree
    union
    select relative_id from fam_second_degree
),
relative_facts as (
    select
        person_id as relative_id,
        premature_chd,
        first_mi_age,
        age_at_index,
        ldl_above_p95,
        tc_adult,
        tc_child,
        known_fh
    from person_facts
    where person_id in (select person_id from relatives_of_scope)
),
first_summary as (
    select
        f.person_id,
        count(*) as first_degree_relatives,
        bool_or(r.premature_chd) as fdr_premature_chd,
        bool_or(r.ldl_above_p95) as fdr_ldl_above_p95,
        bool_or(f.relation = 'child' and r.age_at_index < $dlcn_child_under and r.ldl_above_p95)
            as child_ldl_above_p95,
        bool_or(r.known_fh) as fdr_known_fh,
        bool_or(r.first_mi_age < $simon_broome_family_mi_first_degree_before) as fdr_mi_early,
        bool_or(r.tc_adult > $simon_broome_family_tc_adult_above
                or (f.relation in ('child', 'sibling')
                    and r.tc_child > $simon_broome_family_tc_child_above)) as fdr_high_tc
    from fam_first_degree f
    join relative_facts r on r.relative_id = f.relative_id
    group by f.person_id
),
second_summary as (
    select
        s.person_id,
        count(*) as second_degree_relatives,
        bool_or(r.known_fh) as sdr_known_fh,
        bool_or(r.first_mi_age < $simon_broome_family_mi_second_degree_before) as sdr_mi_early,
        bool_or(r.tc_adult > $simon_broome_family_tc_adult_above) as sdr_high_tc
    from fam_second_degree s
    join relative_facts r on r.relative_id = s.relative_id
    group by s.person_id
),
final as (
    select
        coalesce(f.person_id, s.person_id) as person_id,
        coalesce(f.first_degree_relatives, 0) as first_degree_relatives,
        coalesce(s.second_degree_relatives, 0) as second_degree_relatives,
        coalesce(f.fdr_premature_chd, false) as fdr_premature_chd,
        coalesce(f.fdr_ldl_above_p95, false) as fdr_ldl_above_p95,
        coalesce(f.child_ldl_above_p95, false) as child_ldl_above_p95,
        coalesce(f.fdr_known_fh, false) as fdr_known_fh,
        coalesce(s.sdr_known_fh, false) as sdr_known_fh,
        coalesce(f.fdr_mi_early, false) as fdr_mi_early,
        coalesce(s.sdr_mi_early, false) as sdr_mi_early,
        coalesce(f.fdr_high_tc, false) as fdr_high_tc,
        coalesce(s.sdr_high_tc, false) as sdr_high_tc
    from first_summary f
    full outer join second_summary s on s.person_id = f.person_id
)
select * from final;
