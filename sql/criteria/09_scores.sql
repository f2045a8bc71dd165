-- The three published rule sets, scored from the data a region has.
-- DLCN (EAS 2013): each group once, by its highest item; items routine data cannot give
-- (tendon xanthoma, arcus, a relative's xanthoma; DNA when never tested) are listed as
-- not available, not scored as zero. Simon Broome: lipid criterion plus DNA (definite) or
-- family history (possible); xanthoma not available. MEDPED: any untreated total
-- cholesterol at or above the cut-off for the age at that sample and the closest relative
-- with known FH (first, second degree, else general population).
-- For the people in `scope_b`.
create or replace temp table int_scores as
with people as (
    select
        i.*,
        coalesce(v.premature_chd, false) as premature_chd,
        coalesce(v.premature_other_vascular, false) as premature_other_vascular,
        v.first_chd_age,
        coalesce(f.first_degree_relatives, 0) as first_degree_relatives,
        coalesce(f.second_degree_relatives, 0) as second_degree_relatives,
        coalesce(f.fdr_premature_chd, false) as fdr_premature_chd,
        coalesce(f.fdr_ldl_above_p95, false) as fdr_ldl_above_p95,
        coalesce(f.child_ldl_above_p95, false) as child_ldl_above_p95,
        coalesce(f.fdr_known_fh, false) as fdr_known_fh,
        coalesce(f.sdr_known_fh, false) as sdr_known_fh,
        coalesce(f.fdr_mi_early or f.sdr_mi_early, false) as family_mi_early,
        coalesce(f.fdr_high_tc or f.sdr_high_tc, false) as family_high_tc,
        -- uncorrelated: a correlated exists ran as two delimiter joins over the scope
        i.person_id in (select person_id from genetic_tests
                        where tested_at <= $as_of and person_id is not null) as genetic_tested,
        i.person_id in (select person_id from genetic_tests
                        where result = 'positive' and tested_at <= $as_of
                          and person_id is not null) as genetic_positive
    from (select * from index_ldl where person_id in (select person_id from scope_b)) i
    left join int_vascular_history v using (person_id)
    left join int_family_history f using (person_id)
),
scope_history as materialized (
    -- the scope's samples, picked once: left to itself DuckDB joined all of ldl_history
    -- with the MEDPED bands and `people` before dropping the samples out of scope
    select person_id, age_at_sample, treated, total_chol
    from ldl_history
    where person_id in (select person_id from scope_b)
),
simon_broome_lipid as (
    -- LDL: the person's untreated-LDL estimate (03_index_ldl), at the index age; total
    -- cholesterol: any sample measured off treatment, at its own age
    select
        pe.person_id,
        case when pe.age_at_index >= $simon_broome_adult_from_age
             then pe.index_untreated_ldl > $simon_broome_adult_ldl_above
             else pe.index_untreated_ldl > $simon_broome_child_ldl_above end
        or coalesce(bool_or(case when h.age_at_sample >= $simon_broome_adult_from_age
                                 then not h.treated and h.total_chol > $simon_broome_adult_tc_above
                                 else not h.treated and h.total_chol > $simon_broome_child_tc_above
                            end), false) as sb_lipid
    from people pe
    left join scope_history h using (person_id)
    group by pe.person_id, pe.age_at_index, pe.index_untreated_ldl
),
medped_by_age as (
    -- one row per year of age, for an equality join instead of a range join
    select unnest(range(from_age, to_age + 1)) as age, first, second, general
    from medped_bands
),
tc_samples as (
    select
        h.person_id,
        h.age_at_sample,
        h.total_chol,
        case when pe.fdr_known_fh then m.first
             when pe.sdr_known_fh then m.second
             else m.general end as cutoff
    from scope_history h
    join people pe using (person_id)
    join medped_by_age m on m.age = h.age_at_sample
    where not h.treated and h.total_chol is not null
),
medped as (
    -- the untreated sample that comes closest to (or furthest past) its cut-off; ties
    -- (equal margins at different ages) go to the later age, so all three values come
    -- from one sample and reruns agree. One max over a struct ordered margin first, then
    -- age: equal margins at one age have one cut-off, so one total cholesterol too (one
    -- aggregate, where three arg_max kept three copies of the key)
    select person_id, max_untreated_tc, best.tc as medped_tc, best.age as medped_age,
           best.cutoff as medped_cutoff
    from (
        select
            person_id,
            max(total_chol) as max_untreated_tc,
            max({'margin': total_chol - cutoff, 'age': age_at_sample, 'tc': total_chol,
                 'cutoff': cutoff}) as best
        from tc_samples
        group by person_id
    )
),
dlcn as (
    select
        pe.*,
        sb.sb_lipid,
        m.max_untreated_tc,
        m.medped_tc,
        m.medped_age,
        m.medped_cutoff,
        case
            when pe.index_untreated_ldl >= $dlcn_ldl_8_points_at_least then 8
            when pe.index_untreated_ldl >= $dlcn_ldl_5_points_at_least then 5
            when pe.index_untreated_ldl >= $dlcn_ldl_3_points_at_least then 3
            when pe.index_untreated_ldl >= $dlcn_ldl_1_point_at_least then 1
            else 0
        end as dlcn_ldl_points,
        case
            when pe.premature_chd then $dlcn_own_chd_points
            when pe.premature_other_vascular then $dlcn_own_other_vascular_points
            else 0
        end as dlcn_own_history_points,
        greatest(
            case when pe.child_ldl_above_p95 then $dlcn_family_child_points else 0 end,
            case when pe.fdr_premature_chd or pe.fdr_ldl_above_p95 then $dlcn_family_points
                 else 0 end
        ) as dlcn_family_points,
        case when pe.genetic_positive then $dlcn_dna_points
             when pe.genetic_tested then 0 end as dlcn_dna_points
    from people pe
    left join simon_broome_lipid sb using (person_id)
    left join medped m using (person_id)
),
final as (
    select
        *,
        dlcn_ldl_points + dlcn_own_history_points + dlcn_family_points
            + coalesce(dlcn_dna_points, 0) as dlcn_points,
        list_filter(['tendon xanthoma', 'arcus cornealis before 45',
                     'relative with tendon xanthoma or arcus',
                     case when dlcn_dna_points is null then 'DNA (never tested)' end],
                    lambda x: x is not null) as dlcn_not_available,
        case
            when coalesce(sb_lipid, false) and genetic_positive then 'definite'
            when coalesce(sb_lipid, false) and (family_mi_early or family_high_tc) then 'possible'
        end as simon_broome,
        coalesce(medped_tc >= medped_cutoff, false) as medped_met,
        case when fdr_known_fh then 'first-degree relative with FH'
             when sdr_known_fh then 'second-degree relative with FH'
             else 'general population' end as medped_reference
    from dlcn
)
select
    *,
    case
        when dlcn_points > $dlcn_definite_above then 'definite'
        when dlcn_points >= $dlcn_probable_at_least then 'probable'
        when dlcn_points >= $dlcn_possible_at_least then 'possible'
        else 'unlikely'
    end as dlcn_category
from final;
