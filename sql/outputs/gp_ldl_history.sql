-- LDL history (measured and untreated estimate) of the patients in the GP reports, for
-- the chart beside each patient. Keyed by pseudonym; the report never prints it.
with flagged as (
    select person_id
    from out_triage
    where (flagged or refer) and not known_fh and not genetic_positive
),
final as (
    select
        h.person_id,
        cast(h.sampled_at as date) as sampled_on,
        round(h.ldl, 2) as ldl,
        round(h.untreated_ldl, 2) as untreated_ldl,
        h.treated
    from ldl_history h
    join flagged f using (person_id)
    where h.ldl is not null and cast(h.sampled_at as date) <= $as_of
)
select * from final
order by person_id, sampled_on, ldl;
