-- Each person's untreated LDL as evidence: one estimate with its uncertainty, from all
-- their usable samples, never the maximum of noisy estimates (docs/criteria.md).
--
-- Samples with a secondary cause (02_ldl_untreated) are set aside when the person has
-- samples without one; otherwise every sample counts (and 04_secondary_causes excludes).
-- On the log scale each sample is a measurement of the person's usual untreated level:
--   off treatment   ln(ldl), variance $ldl_evidence_within_person_sd^2;
--   on treatment    ln(ldl) - ln(1 - f x r), f = $ldl_evidence_on_treatment_effect_fraction
--                   (the reduction achieved in practice, below the nominal r); the samples of
--                   one regimen share its uncertain response, so a regimen of k samples has
--                   variance within_person_sd^2 / k + $ldl_evidence_on_treatment_sd^2.
-- Off-treatment samples and regimens combine by inverse variance: the estimate is
-- exp(weighted mean), its standard error on the log scale 1 / sqrt(sum of weights), and
-- the interval shown estimate x exp(-/+ $ldl_evidence_interval_z x SE). A person with
-- samples before and after starting a drug is so estimated almost entirely from their own
-- off-treatment values; their observed response (1 - on/off, geometric means) is shown.
-- Sums are exact integers (log values in units of 1e-9, weights in units of 1e-6), so
-- the same store gives the same estimate whatever the order of DuckDB's threads.
--
-- The index sample, shown with its date, is the latest of the samples of the best basis
-- (off treatment if any, else on treatment); the age bands use the age at it.
-- Possible homozygous FH: a measured LDL or the estimate above $homozygous_adult_ldl_above
-- (adults) or $homozygous_child_ldl_above (children, up to $referral_child_max_age).
-- Kept in the store as `index_ldl` (merged by fh_screening/criteria.py): percentiles and
-- relatives read it.
create or replace table int_index_ldl as
with samples as (
    select
        h.*,
        count(*) filter (where not h.secondary_cause) over (partition by h.person_id) as clean_n
    from int_ldl_history h
    where h.ldl > 0
),
used as (
    select
        *,
        round(ln(ldl) * 1e9)::bigint as log_n  -- ln(ldl) in units of 1e-9
    from samples
    where not secondary_cause or clean_n = 0
),
set_aside as (
    select
        person_id,
        count(*) as set_aside_samples,
        -- sorted: list() gathers in thread order, and the same store must give the same row
        list_sort(list_distinct(flatten(list(list_filter([
            case when high_tsh then 'tsh' end,
            case when low_albumin then 'albumin' end,
            case when cholestasis then 'liver' end,
            case when very_high_triglycerides then 'triglycerides' end,
            case when ldl_raising_drugs is not null then 'drug' end
        ], lambda x: x is not null))))) as set_aside_causes
    from samples
    where secondary_cause and clean_n > 0
    group by person_id
),
blocks as (
    -- off treatment: one block; on treatment: one block per regimen
    select
        person_id,
        treated,
        case when treated then treatment end as regimen,
        max(treatment_reduction) as nominal_reduction,
        count(*) as k,
        sum(log_n)::hugeint as log_sum
    from used
    group by person_id, treated, regimen
),
weighted as (
    select
        *,
        -- the block's value on the log scale, in units of 1e-9
        round(log_sum / k - case when treated
            then ln(1 - $ldl_evidence_on_treatment_effect_fraction * nominal_reduction) * 1e9
            else 0 end)::bigint as value_n,
        -- inverse variance, in units of 1e-6
        round(1e6 / (pow($ldl_evidence_within_person_sd, 2) / k
                     + case when treated then pow($ldl_evidence_on_treatment_sd, 2) else 0 end)
              )::bigint as weight_n
    from blocks
),
evidence as (
    select
        person_id,
        sum(weight_n::hugeint * value_n) / sum(weight_n) / 1e9 as mu,
        sqrt(1e6 / sum(weight_n)) as se,
        coalesce(sum(k) filter (where not treated), 0) as off_treatment_samples,
        coalesce(sum(k) filter (where treated), 0) as on_treatment_samples,
        sum(log_sum) filter (where not treated) / sum(k) filter (where not treated) / 1e9
            as off_log_mean,
        sum(log_sum) filter (where treated) / sum(k) filter (where treated) / 1e9
            as on_log_mean,
        -- the regimen most samples were on (ties: the stronger), for the observed response
        arg_max(nominal_reduction, struct_pack(k := k, r := nominal_reduction))
            filter (where treated) as main_nominal_reduction
    from weighted
    group by person_id
),
per_person as (
    -- the index sample's time (off treatment first, then the latest; a person has one
    -- sample per time, as 01_ldl_values groups by both) and the maxima: aggregates, which
    -- cost three quarters of the windows over every sample they replace (docs/scale.md)
    select
        person_id,
        coalesce(max(sampled_at) filter (where not treated), max(sampled_at)) as index_at,
        max(ldl) as max_measured_ldl,
        max(ldl) filter (where not treated) as max_off_treatment_ldl,
        bool_or(ldl > case when age_at_sample <= $referral_child_max_age
                           then $homozygous_child_ldl_above
                           else $homozygous_adult_ldl_above end) as homozygous_measured
    from used
    group by person_id
),
ranked as (
    select u.*, p.max_measured_ldl, p.max_off_treatment_ldl, p.homozygous_measured
    from used u
    join per_person p on p.person_id = u.person_id and p.index_at = u.sampled_at
),
counts as (
    select person_id, count(*) as ldl_samples
    from int_ldl_history
    where untreated_ldl is not null
    group by person_id
),
final as (
    select
        r.person_id,
        r.sampled_at as index_sampled_at,
        r.ldl as index_ldl,
        r.ldl_method as index_ldl_method,
        r.treated as index_treated,
        r.treatment as index_treatment,
        r.treatment_reduction as index_treatment_reduction,
        -- to 0.001 mmol/L, so a single sample off treatment is its own measured value
        -- exactly (the log-scale sums would leave it a hair above or below a threshold)
        round(exp(e.mu), 3) as index_untreated_ldl,
        round(exp(e.mu - $ldl_evidence_interval_z * e.se), 3) as untreated_ldl_low,
        round(exp(e.mu + $ldl_evidence_interval_z * e.se), 3) as untreated_ldl_high,
        e.se as untreated_ldl_se,
        case when e.on_treatment_samples = 0 then 'off treatment'
             when e.off_treatment_samples = 0 then 'on treatment only'
             else 'off and on treatment' end as ldl_evidence,
        e.off_treatment_samples,
        e.on_treatment_samples,
        case when e.off_treatment_samples > 0 and e.on_treatment_samples > 0
             then 1 - exp(e.on_log_mean - e.off_log_mean) end as observed_reduction,
        case when e.off_treatment_samples > 0 and e.on_treatment_samples > 0
             then e.main_nominal_reduction end as nominal_reduction,
        r.max_measured_ldl,
        r.max_off_treatment_ldl,
        coalesce(s.set_aside_samples, 0) as set_aside_samples,
        coalesce(s.set_aside_causes, []::varchar[]) as set_aside_causes,
        r.homozygous_measured
            or round(exp(e.mu), 3) > case when r.age_at_sample <= $referral_child_max_age
                                then $homozygous_child_ldl_above
                                else $homozygous_adult_ldl_above end as possible_homozygous,
        r.triglycerides as index_triglycerides,
        -- what the secondary-cause check saw at the index sample (the nearest values)
        r.tsh_near as index_tsh,
        r.albumin_near as index_albumin,
        r.alp_near as index_alp,
        r.bilirubin_near as index_bilirubin,
        c.ldl_samples,
        r.age_at_sample as age_at_index,
        r.sex
    from ranked r
    join evidence e using (person_id)
    join counts c using (person_id)
    left join set_aside s using (person_id)
)
select * from final;
