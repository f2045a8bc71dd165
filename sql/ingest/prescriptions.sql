-- Lipid-lowering prescriptions (ATC C10, DESIGN.md) and drugs that raise LDL (a possible
-- secondary cause: config/code_lists/ldl_raising_drugs.csv), both in $accepted_atc_prefixes.
-- Other drugs are quarantined, so a region that starts sending them is noticed. An empty
-- end date means ongoing.
create or replace temp table parsed as
with typed as (
    select
        _row,
        k.problem as cpr_problem,
        k.person_id,
        upper(trim(atc_code)) as atc_code,
        strength_mg as strength_text,
        case when strength_mg_typed is not null then strength_mg_typed
             else parse_number(strength_mg, $decimal_comma) end as strength_mg,
        start_date as start_text,
        case when start_date_typed is not null then start_date_typed
             else parse_date(start_date, $date_format) end as start_date,
        end_date as end_text,
        case when end_date_typed is not null then end_date_typed
             else parse_date(end_date, $date_format) end as end_date
    from stg
    left join cpr_ids k on k.ref = stg.cpr
)
select
    t.person_id, t.atc_code, t.strength_mg, t.start_date, t.end_date,
    t._row, t.person_id as _pid,
    case
        when t.cpr_problem is not null then {'field': 'cpr', 'reason': t.cpr_problem}
        when p.person_id is null then {'field': 'cpr', 'reason': 'person not in the patients extract'}
        when not regexp_full_match(coalesce(t.atc_code, ''), '[A-Z][0-9]{2}[A-Z]{2}[0-9]{2}')
            then {'field': 'atc_code', 'reason': 'not an ATC code'}
        when not list_bool_or(list_transform($accepted_atc_prefixes,
                                             lambda p: starts_with(t.atc_code, p)))
            then {'field': 'atc_code', 'reason': 'neither a lipid-lowering drug (ATC C10) '
                                                 || 'nor a drug that raises LDL'}
        when nullif(trim(t.strength_text), '') is not null and t.strength_mg is null
            then {'field': 'strength_mg', 'reason': 'not a number'}
        when t.start_date is null
            then {'field': 'start_date', 'reason': 'not a date in the format ' || $date_format}
        when nullif(trim(t.end_text), '') is not null and t.end_date is null
            then {'field': 'end_date', 'reason': 'not a date in the format ' || $date_format}
        when t.end_date < t.start_date then {'field': 'end_date', 'reason': 'ends before it starts'}
        when t.start_date > $today then {'field': 'start_date', 'reason': 'start date in the future'}
        -- plausibility (issue 20): within the person's life; strength within the drug's
        -- range (config/code_lists/drug_strengths.csv)
        when t.start_date < p.birth_date then {'field': 'start_date', 'reason': 'date before birth'}
        when t.start_date > p.deceased_date then {'field': 'start_date', 'reason': 'date after death'}
        when t.strength_mg < r.min_mg or t.strength_mg > r.max_mg
            then {'field': 'strength_mg', 'reason': 'strength outside the plausible range ' || r.label}
    end as _problem
from typed t
left join patients p on p.person_id = t.person_id
left join strength_range r on starts_with(t.atc_code, r.atc_prefix);
