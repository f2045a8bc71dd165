-- GP practices and the lipid clinic each refers to. A practice listed twice in one file
-- is ambiguous: the later rows are quarantined, the first kept.
create or replace temp table parsed as
with typed as (
    select
        _row,
        nullif(trim(gp_practice_id), '') as gp_practice_id,
        nullif(trim(practice_name), '') as practice_name,
        nullif(trim(lipid_clinic_id), '') as lipid_clinic_id
    from stg
)
select
    gp_practice_id, practice_name, lipid_clinic_id, _row,
    null::varchar as _pid,
    case
        when gp_practice_id is null then {'field': 'gp_practice_id', 'reason': 'missing practice id'}
        when lipid_clinic_id is null then {'field': 'lipid_clinic_id', 'reason': 'missing lipid clinic'}
        when row_number() over (partition by gp_practice_id order by _row) > 1
            then {'field': 'gp_practice_id', 'reason': 'duplicate practice in the file'}
    end as _problem
from typed;
