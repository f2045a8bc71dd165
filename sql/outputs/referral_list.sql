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
        case when p.person_id is null then 'not referred by an earlier run'
             when t.index_untreated_ldl >= p.prev_ldl + $referral_rerefer_ldl_rise_at_least
                  then printf('untreated LDL now %.1f mmol/L, %.1f higher than %.1f when referred on %s (run %s)',
                              t.index_untreated_ldl, t.index_untreated_ldl - p.prev_ldl, p.prev_ldl,
                              strftime(p.prev_sent_at, '%Y-%m-%d'), p.prev_run_id)
             else printf('priority rose to %s since referred on %s (run %s)', t.priority_tier,
                         strftime(p.prev_sent_at, '%Y-%m-%d'), p.prev_run_id)
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
        printf('%.1f-%.1f', s.untreated_ldl_low, s.untreated_ldl_high) as untreated_ldl_range,
        s.ldl_evidence,
        round(s.max_off_treatment_ldl, 2) as max_ldl_off_treatment,
        s.ldl_samples,
        s.dlcn_points,
        s.dlcn_category,
        printf('LDL %d, own history %d, family %d, DNA %s', s.dlcn_ldl_points,
               s.dlcn_own_history_points, s.dlcn_family_points,
               coalesce(cast(s.dlcn_dna_points as varchar), 'not tested')) as dlcn_parts,
        coalesce(s.simon_broome, 'not met') as simon_broome,
        case when s.medped_met then 'met' else 'not met' end as medped,
        array_to_string(s.flagged_by, ', ') as flagged_by,
        -- the rules' reasons; fh_screening/referrals.py adds the model's (model_reasons,
        -- data) in words and joins them into one text
        s.reasons,
        case when len(s.exclusions) > 0 then 'found: ' || array_to_string(s.exclusions, '; ')
        else printf('none found within %d days of the index sample: TSH %s; albumin %s; ALP %s; bilirubin %s; triglycerides %s; no LDL-raising drug; no FH diagnosis (E78.0); genetic test %s',
               $secondary_causes_window_days,
               coalesce(printf('%.1f mIU/L', s.index_tsh), 'not measured'),
               coalesce(printf('%.0f g/L', s.index_albumin), 'not measured'),
               coalesce(printf('%.0f U/L', s.index_alp), 'not measured'),
               coalesce(printf('%.0f umol/L', s.index_bilirubin), 'not measured'),
               coalesce(printf('%.1f mmol/L', s.index_triglycerides), 'not measured'),
               case when s.genetic_tested then 'without a causative variant' else 'not done' end)
        end as exclusions_checked,
        printf('%d first-degree, %d second-degree in the data%s',
               coalesce(s.first_degree_relatives, 0), coalesce(s.second_degree_relatives, 0),
               case when s.fdr_known_fh then '; a first-degree relative has known FH'
                    when s.sdr_known_fh then '; a second-degree relative has known FH'
                    else '; none with known FH' end) as relatives_known,
        s.model_reasons,
        s.person_id
    from ranked s
    left join practices pr on pr.gp_practice_id = s.gp_practice_id and pr.region = s.region
)
select * from final
order by lipid_clinic_id, rank;
