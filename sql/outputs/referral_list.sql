-- Lipid-clinic referral candidates of this run, one row per patient, ranked per clinic by
-- priority tier (urgent, then high, then standard), within a tier the people already
-- waiting in a clinic's backlog first (longest waiting first), then model probability,
-- then untreated LDL (ties by pseudonym, so the order is total and reproducible).
-- `listed`: within the clinic's capacity for new referrals per run ($clinic_capacity,
-- from config/clinics.toml, else $clinic_default_capacity), or urgent (always listed);
-- the others wait in the ranked backlog (referral_backlog), which later runs draw from
-- first. Nobody is lost: a waiting person stays a candidate until listed or no longer
-- referable.
-- Deduplicated against earlier runs (referral_history, runs other than this one sent up
-- to $as_of): a person already referred is listed again only as a 're-referral', when
-- the untreated-LDL estimate rose by at least $referral_rerefer_ldl_rise_at_least over
-- the highest value sent before, or the tier rose (standard -> high -> urgent).
-- Re-identified through the attached vault: clinician-facing.
with prior as (
    select
        person_id,
        max(index_ldl) as prev_ldl,
        max(case tier when 'urgent' then 3 when 'high' then 2 else 1 end) as prev_tier_rank,
        max(sent_at) as prev_sent_at,
        arg_max(run_id, sent_at) as prev_run_id
    from referral_history
    where run_id <> $run_id and sent_at <= $as_of
    group by person_id
),
decided as (
    select
        t.*,
        p.prev_ldl,
        p.prev_sent_at,
        p.prev_run_id,
        case when p.person_id is null then 'new'
             when t.index_untreated_ldl >= p.prev_ldl + $referral_rerefer_ldl_rise_at_least
                  then 're-referral'
             when (case t.priority_tier when 'urgent' then 3 when 'high' then 2 else 1 end)
                  > p.prev_tier_rank
                  then 're-referral'
        end as referral_status,
        -- a code; fh_screening/referrals.py words it with the values below in the
        -- list's language
        case when p.person_id is null then 'new'
             when t.index_untreated_ldl >= p.prev_ldl + $referral_rerefer_ldl_rise_at_least
                  then 'ldl_rose'
             else 'tier_rose'
        end as status_reason
    from out_triage t
    left join prior p using (person_id)
    where t.refer
),
candidates as (
    select * from decided where referral_status is not null
),
waiting as (
    -- since when each person has waited in a backlog of an earlier run
    select person_id, min(waiting_since) as waiting_since
    from referral_backlog
    where run_id <> $run_id and as_of <= $as_of
    group by person_id
),
ranked as (
    select
        c.*,
        w.waiting_since,
        row_number() over (
            partition by c.lipid_clinic_id
            order by case c.priority_tier when 'urgent' then 0 when 'high' then 1 else 2 end,
                     w.waiting_since nulls last,
                     c.fh_probability desc nulls last, c.index_untreated_ldl desc, c.person_id
        ) as rank,
        coalesce(cap.capacity, $clinic_default_capacity) as capacity
    from candidates c
    left join waiting w using (person_id)
    left join clinic_capacity cap on cap.lipid_clinic_id = c.lipid_clinic_id
),
final as (
    select
        s.lipid_clinic_id,
        s.rank,
        s.priority_tier = 'urgent' or s.rank <= s.capacity as listed,
        coalesce(s.waiting_since, cast($as_of as date)) as waiting_since,
        s.priority_tier as priority,
        s.referral_status as status,
        s.status_reason,
        round(s.prev_ldl, 1) as prev_ldl,
        cast(s.prev_sent_at as date) as prev_sent_at,
        s.prev_run_id,
        round(s.fh_probability, 3) as fh_probability,
        round(s.fh_probability_low, 3) as fh_probability_low,
        round(s.fh_probability_high, 3) as fh_probability_high,
        null::varchar as cpr,  -- named by privacy.Reidentifier, outside the store
        s.age_now as age,
        s.sex,
        s.gp_practice_id,
        pr.practice_name,
        round(s.index_ldl, 2) as index_ldl,
        cast(s.index_sampled_at as date) as index_ldl_date,
        s.index_ldl_method,
        s.index_treatment,
        round(s.index_untreated_ldl, 2) as untreated_ldl_estimate,
        -- words, not numbers, in the lists: fh_screening/referrals.py writes the range
        -- and the texts below from these columns in the list's language
        round(s.untreated_ldl_low, 1) as untreated_ldl_low,
        round(s.untreated_ldl_high, 1) as untreated_ldl_high,
        null::varchar as untreated_ldl_range,
        s.ldl_evidence,
        round(s.max_off_treatment_ldl, 2) as max_ldl_off_treatment,
        s.ldl_samples,
        s.dlcn_points,
        s.dlcn_category,
        s.dlcn_ldl_points,
        s.dlcn_own_history_points,
        s.dlcn_family_points,
        s.dlcn_dna_points,
        null::varchar as dlcn_parts,
        s.simon_broome,
        s.medped_met as medped,
        array_to_string(s.flagged_by, ', ') as flagged_by,
        -- the rules' reasons; fh_screening/referrals.py adds the model's (model_reasons,
        -- data) in words and joins them into one text
        s.reasons,
        -- the secondary causes looked for, as facts (worded in fh_screening/referrals.py)
        null::varchar as exclusions_checked,
        s.exclusions,
        s.index_tsh, s.index_albumin, s.index_alp, s.index_bilirubin, s.index_triglycerides,
        s.genetic_tested, s.genetic_positive, s.known_fh,
        s.high_tsh, s.max_tsh, s.low_albumin, s.min_albumin, s.cholestasis, s.max_alp,
        s.max_bilirubin, s.very_high_triglycerides, s.max_triglycerides, s.ldl_raising_drug,
        s.ldl_raising_drugs,
        null::varchar as relatives_known,
        coalesce(s.first_degree_relatives, 0) as first_degree_relatives,
        coalesce(s.second_degree_relatives, 0) as second_degree_relatives,
        coalesce(s.fdr_known_fh, false) as fdr_known_fh,
        coalesce(s.sdr_known_fh, false) as sdr_known_fh,
        s.model_reasons,
        s.person_id
    from ranked s
    left join practices pr on pr.gp_practice_id = s.gp_practice_id and pr.region = s.region
)
select * from final
order by lipid_clinic_id, rank;
