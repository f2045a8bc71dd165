-- The risk model's inputs: one row per person screened now (int_screening_results: the
-- people in scope), built only from what the criteria layer already computed. Deliberately left out,
-- because they are the label or stand in for it: the person's own genetic test result and
-- the DLCN / Simon Broome totals that include DNA points, and the person's own E78.0 (FH)
-- diagnosis. Relatives' diagnoses and tests are kept: they are real evidence at screening
-- time (cascade testing), and the evaluation holds out whole families so they cannot leak.
-- Booleans are 0/1 doubles and missing values stay null (the model imputes); the column
-- order here is the model's feature order, checked against the model card at scoring.
create or replace temp table model_features as
with own_values as (
    -- the person's off-treatment samples carry the trajectory (on-treatment estimates
    -- would add the noise of an uncertain response to it)
    select
        h.*,
        -- exact integers for the sums below: nanomol/L and seconds
        case when not treated then round(ldl * 1e9)::hugeint end as y,
        case when not treated and ldl is not null then epoch(sampled_at)::bigint::hugeint end as x,
        -- medians from ranks (a sort that spills to disk, where median() holds every
        -- person's values in memory at once: out of memory at 6 million people)
        row_number() over (partition by person_id order by hdl) as hdl_rank,
        count(hdl) over (partition by person_id) as hdl_n,
        row_number() over (partition by person_id order by triglycerides) as tg_rank,
        count(triglycerides) over (partition by person_id) as tg_n
    from ldl_history h
    where person_id in (select person_id from int_screening_results)
),
own as (
    select
        person_id,
        -- Floating-point sums depend on the order of the rows, which parallel scans do
        -- not fix. Integer sums do not, so the same store gives the same features (and so
        -- the same model) without sorting every person's samples (a national run has
        -- millions of people; ordered aggregates made this step spill tens of GB).
        -- Trajectory: least-squares slope of measured off-treatment LDL per year.
        (count(y) * sum(x * y) - sum(x) * sum(y))::double
            / nullif(count(y) * sum(x * x) - sum(x) * sum(x), 0)::double
            / 1e9 * (365.25 * 86400) as ldl_slope_per_year,
        date_diff('day', min(sampled_at), max(sampled_at)) / 365.25 as ldl_history_years,
        max(total_chol) filter (where not treated) as max_untreated_tc,
        avg(hdl) filter (where hdl_rank in ((hdl_n + 1) // 2, (hdl_n + 2) // 2)) as median_hdl,
        avg(triglycerides) filter (where tg_rank in ((tg_n + 1) // 2, (tg_n + 2) // 2))
            as median_triglycerides,
        bool_or(treated) as ever_treated,
        max(treatment_reduction) as max_treatment_reduction
    from own_values
    group by person_id
),
first_degree as (
    select distinct person_id, relative_id
    from relations
    where relation in ('mother', 'father', 'sibling', 'child')
      and person_id in (select person_id from int_screening_results)
),
relatives as (
    -- relatives' untreated-LDL estimates from their facts (sql/criteria/07_person_facts.sql)
    select
        f.person_id,
        max(r.untreated_ldl) as fdr_max_untreated_ldl,
        count(*) as fdr_with_ldl
    from first_degree f
    join person_facts r on r.person_id = f.relative_id and r.has_ldl_history
    group by f.person_id
)
select
    s.person_id,
    s.region,
    cast(s.age_at_index as double) as age_at_index,
    cast(s.sex = 'M' as double) as male,
    s.index_untreated_ldl,
    s.untreated_ldl_low,
    s.untreated_ldl_se,
    cast(s.off_treatment_samples as double) as off_treatment_samples,
    cast(s.on_treatment_samples as double) as on_treatment_samples,
    s.max_off_treatment_ldl,
    s.max_measured_ldl,
    s.observed_reduction,
    o.ldl_slope_per_year,
    o.ldl_history_years,
    cast(s.ldl_samples as double) as ldl_samples,
    o.max_untreated_tc,
    o.median_hdl,
    o.median_triglycerides,
    cast(s.index_treated as double) as treated_at_index,
    cast(coalesce(o.ever_treated, false) as double) as ever_treated,
    coalesce(o.max_treatment_reduction, 0) as max_treatment_reduction,
    cast(s.set_aside_samples as double) as set_aside_samples,
    cast(s.high_tsh as double) as high_tsh,
    cast(s.low_albumin as double) as low_albumin,
    cast(s.cholestasis as double) as cholestasis,
    cast(s.very_high_triglycerides as double) as very_high_triglycerides,
    cast(s.ldl_raising_drug as double) as ldl_raising_drug,
    cast(coalesce(s.premature_chd, false) as double) as premature_chd,
    cast(coalesce(s.premature_other_vascular, false) as double) as premature_other_vascular,
    cast(coalesce(s.first_degree_relatives, 0) as double) as first_degree_relatives,
    cast(coalesce(s.fdr_premature_chd, false) as double) as fdr_premature_chd,
    cast(coalesce(s.fdr_ldl_above_p95, false) as double) as fdr_ldl_above_p95,
    cast(coalesce(s.child_ldl_above_p95, false) as double) as child_ldl_above_p95,
    cast(coalesce(s.fdr_known_fh, false) as double) as fdr_known_fh,
    cast(coalesce(s.sdr_known_fh, false) as double) as sdr_known_fh,
    r.fdr_max_untreated_ldl,
    cast(coalesce(r.fdr_with_ldl, 0) as double) as fdr_with_ldl
from int_screening_results s
left join own o using (person_id)
left join relatives r using (person_id)
order by s.person_id;
