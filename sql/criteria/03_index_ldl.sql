-- Each person's index LDL: the sample with the highest untreated-LDL estimate (ties: the
-- earliest), with the age at that sample in whole years. Kept in the store as
-- `index_ldl` (merged by fh_screening/criteria.py): percentiles and relatives read it.
create or replace table int_index_ldl as
with ranked as (
    select
        u.*,
        row_number() over (
            partition by u.person_id order by u.untreated_ldl desc, u.sampled_at
        ) as rank_in_person,
        count(*) over (partition by u.person_id) as ldl_samples
    from int_ldl_history u
    where u.untreated_ldl is not null
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
        r.untreated_ldl as index_untreated_ldl,
        r.triglycerides as index_triglycerides,
        r.ldl_samples,
        r.age_at_sample as age_at_index,
        r.sex
    from ranked r
    where r.rank_in_person = 1
)
select * from final;
