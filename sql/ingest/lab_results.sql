-- Lab results, converted to the analyte's canonical unit (config/units.toml). The source
-- code, unit and text value are kept beside the converted value for audit.
--
-- Three steps, so that a national lab file is copied once: `lab_typed` holds every row
-- with the checks that need only the row itself (`problem0`); `lab_cross_problems` holds
-- the few rows that fail a check against other rows (same-sample total, duplicates);
-- `parsed` is the view joining the two. Rows already stored are looked up only in this
-- region and only for the people of this file, so that a monthly file is checked against
-- the store without scanning the nation.
create or replace temp table lab_typed as
with typed as (
    select
        s._row,
        k.problem as cpr_problem,
        k.person_id,
        case when s.sampled_at_typed is not null then s.sampled_at_typed
             else parse_timestamp(s.sampled_at, $timestamp_format) end as sampled_at,
        trim(s.source_code) as source_code,
        s.source_value,
        case when s.source_value_typed is not null then s.source_value_typed
             else parse_number(s.source_value, $decimal_comma) end as number,
        nullif(trim(s.source_unit), '') as source_unit
    from stg s
    left join cpr_ids k on k.ref = s.cpr
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
)
select
    _row,
    person_id,
    sampled_at,
    analyte,
    number * factor as value,
    unit,
    source_code,
    source_unit,
    source_value,
    case
        when cpr_problem is not null then {'field': 'cpr', 'reason': cpr_problem}
        when not known_person then {'field': 'cpr', 'reason': 'person not in the patients extract'}
        when sampled_at is null
            then {'field': 'sampled_at', 'reason': 'not a timestamp in the format ' || $timestamp_format_shown}
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
from joined;

create or replace temp table lab_cross_problems as
with ok as (
    select _row, person_id, sampled_at, analyte, value
    from lab_typed where problem0 is null
),
-- Rows already stored, of this region and the people of this file; not those of an
-- earlier version of this same file, which this delivery replaces (ingest.py).
stored as (
    select person_id, sampled_at, analyte, value
    from lab_results
    where region = $region and source_file <> $source_file
      and person_id in (select person_id from ok)
),
-- LDL and HDL are parts of the total cholesterol: one above the total measured in the
-- same sample (this file, or already stored) means one of them is wrong. The LDL or HDL
-- row is quarantined; the total is kept (it cannot be told which is wrong, and the total
-- is the directly measured one).
sample_total as (
    select person_id, sampled_at, max(value) as total
    from (
        select person_id, sampled_at, value from ok where analyte = 'total_chol'
        union all
        select person_id, sampled_at, value from stored where analyte = 'total_chol'
    )
    group by person_id, sampled_at
)
-- Repeats of a row (same person, time and code: a duplicate, a conflict or a correction)
-- are decided for every event table alike, after these checks (sql/ingest/repeats.sql).
select o._row, {'field': 'source_value',
              'reason': o.analyte || ' above the total cholesterol of the same sample'} as problem
from ok o join sample_total t on t.person_id = o.person_id and t.sampled_at = o.sampled_at
where o.analyte in ('ldl', 'hdl') and o.value > t.total;

create or replace temp view parsed as
select
    t.person_id, t.sampled_at, t.analyte, t.value, t.unit, t.source_code, t.source_unit,
    t.source_value, t._row, t.person_id as _pid,
    coalesce(t.problem0, x.problem) as _problem
from lab_typed t
left join lab_cross_problems x using (_row);
