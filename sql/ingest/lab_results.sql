-- Lab results, converted to the analyte's canonical unit (config/units.toml). The source
-- code, unit and text value are kept beside the converted value for audit.
create or replace temp table parsed as
with typed as (
    select
        _row, _raw,
        cpr_problem(cpr) as cpr_problem,
        case when cpr_problem(cpr) is null then pseudonym(cpr_digits(cpr), $ipad, $opad) end as person_id,
        sampled_at as sampled_at_text,
        parse_timestamp(sampled_at, $timestamp_format) as sampled_at,
        trim(source_code) as source_code,
        source_value,
        parse_number(source_value, $decimal_comma) as number,
        nullif(trim(source_unit), '') as source_unit
    from stg
),
joined as (
    select
        t.*,
        m.analyte,
        u.factor,
        u.unit,
        p.person_id is not null as known_person,
        p.birth_date,
        p.deceased_date,
        r.low, r.low_inclusive, r.high, r.label as plausible_label
    from typed t
    left join lab_code_map m on m.source_code = t.source_code
    left join unit_map u on u.analyte = m.analyte and u.source_unit = t.source_unit
    left join plausible_range r on r.analyte = m.analyte
    left join patients p on p.person_id = t.person_id
),
checked as (
    select
        *,
        case
            when cpr_problem is not null then {'field': 'cpr', 'reason': cpr_problem}
            when not known_person then {'field': 'cpr', 'reason': 'person not in the patients extract'}
            when sampled_at is null
                then {'field': 'sampled_at', 'reason': 'not a timestamp in the format ' || $timestamp_format}
            when cast(sampled_at as date) > $today
                then {'field': 'sampled_at', 'reason': 'sample date in the future'}
            when cast(sampled_at as date) < birth_date
                then {'field': 'sampled_at', 'reason': 'sample date before birth'}
            when cast(sampled_at as date) > deceased_date
                then {'field': 'sampled_at', 'reason': 'sample date after death'}
            when analyte is null
                then {'field': 'source_code', 'reason': 'unknown lab code ' || coalesce(source_code, '(empty)')}
            when number is null then {'field': 'source_value', 'reason': 'not a number'}
            when factor is null
                then {'field': 'source_unit', 'reason': 'unit ' || coalesce(source_unit, '(empty)') || ' not accepted for ' || analyte}
            when number < 0 then {'field': 'source_value', 'reason': 'negative value'}
            when number * factor > high or number * factor < low
                    or (number * factor = low and not low_inclusive)
                then {'field': 'source_value',
                      'reason': analyte || ' outside the plausible range ' || plausible_label
                                || ' (wrong unit or a typing error)'}
        end as problem0
    from joined
),
-- LDL and HDL are parts of the total cholesterol: one above the total measured in the
-- same sample (this file, or already stored) means one of them is wrong. The LDL or HDL
-- row is quarantined; the total is kept (it cannot be told which is wrong, and the total
-- is the directly measured one).
with_total as (
    select
        *,
        coalesce(
            max(case when analyte = 'total_chol' and problem0 is null then number * factor end)
                over (partition by person_id, sampled_at),
            (select max(l.value) from lab_results l
             where l.person_id = checked.person_id and l.sampled_at = checked.sampled_at
               and l.analyte = 'total_chol')) as same_sample_total
    from checked
),
checked2 as (
    select
        * exclude (problem0),
        case
            when problem0 is not null then problem0
            when analyte in ('ldl', 'hdl') and number * factor > same_sample_total
                then {'field': 'source_value',
                      'reason': analyte || ' above the total cholesterol of the same sample'}
        end as problem0
    from with_total
)
select
    person_id,
    sampled_at,
    analyte,
    number * factor as value,
    unit,
    source_code,
    source_unit,
    source_value,
    _row, _raw,
    person_id as _pid,
    case
        when problem0 is not null then problem0
        when row_number() over (
                partition by (problem0 is null), person_id, sampled_at, source_code, source_value
                order by _row) > 1
            or exists (
                select 1 from lab_results l
                where l.person_id = checked2.person_id and l.sampled_at = checked2.sampled_at
                  and l.source_code = checked2.source_code and l.source_value = checked2.source_value)
            then {'field': 'source_value', 'reason': 'duplicate of an earlier row'}
    end as _problem
from checked2;
