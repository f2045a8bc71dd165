-- People. Birth date and sex come from their own columns where the region sends them,
-- else from the CPR number; where both exist they must agree (a mismatch is quarantined,
-- never silently corrected).
create or replace temp table parsed as
with typed as (
    select
        _row,
        k.sex as cpr_sex_given,
        k.problem as cpr_problem,
        k.person_id,
        k.birth_date as cpr_birth,
        stg.birth_date as birth_date_text,
        case when stg.birth_date_typed is not null then stg.birth_date_typed
             else parse_date(stg.birth_date, $date_format) end as birth_date_given,
        stg.sex as sex_text,
        (select canonical from value_map v where v.kind = 'sex' and v.source_value = trim(stg.sex)) as sex_given,
        nullif(trim(gp_practice_id), '') as gp_practice_id,
        deceased_date as deceased_text,
        case when deceased_date_typed is not null then deceased_date_typed
             else parse_date(deceased_date, $date_format) end as deceased_date
    from stg
    left join cpr_ids k on k.ref = stg.cpr
),
derived as (
    select
        *,
        case when cpr_problem is null then cpr_sex_given end as cpr_sex
    from typed
)
select
    person_id,
    coalesce(birth_date_given, cpr_birth) as birth_date,
    coalesce(sex_given, cpr_sex) as sex,
    gp_practice_id,
    deceased_date,
    _row,
    person_id as _pid,
    case
        when cpr_problem is not null then {'field': 'cpr', 'reason': cpr_problem}
        when nullif(trim(birth_date_text), '') is not null and birth_date_given is null
            then {'field': 'birth_date', 'reason': 'not a date in the format ' || $date_format}
        when birth_date_given is not null and birth_date_given <> cpr_birth
            then {'field': 'birth_date', 'reason': 'birth date does not match the CPR number'}
        when nullif(trim(sex_text), '') is not null and sex_given is null
            then {'field': 'sex', 'reason': 'unknown sex code'}
        when sex_given is not null and sex_given <> cpr_sex
            then {'field': 'sex', 'reason': 'sex does not match the CPR number'}
        when coalesce(birth_date_given, cpr_birth) > $today
            then {'field': 'cpr', 'reason': 'birth date in the future'}
        when nullif(trim(deceased_text), '') is not null and deceased_date is null
            then {'field': 'deceased_date', 'reason': 'not a date in the format ' || $date_format}
        when deceased_date < coalesce(birth_date_given, cpr_birth)
            then {'field': 'deceased_date', 'reason': 'death before birth'}
        when deceased_date > $today
            then {'field': 'deceased_date', 'reason': 'death date in the future'}
        -- a person older than any human (config/plausibility.toml): a wrong date
        when date_sub('year', coalesce(birth_date_given, cpr_birth), coalesce(deceased_date, $today)) > $max_age_years
            then {'field': case when deceased_date is null then 'cpr' else 'deceased_date' end,
                  'reason': 'age above ' || $max_age_years || ' years' ||
                            case when deceased_date is null then ' and not dead' else ' at death' end}
        when row_number() over (partition by person_id order by _row) > 1
            then {'field': 'cpr', 'reason': 'duplicate person in the file'}
    end as _problem
from derived;
