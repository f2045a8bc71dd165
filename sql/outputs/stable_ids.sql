-- Stable identifiers (issue 21): a referral id per person and lipid clinic, a family id per
-- index case, a relative id per relative and family. Each is issued once, the first time
-- a run lists the person, and kept in `stable_ids`, so letters, lists and clinic returns
-- keep pointing at the same family and referral across runs. The codes are sequence
-- numbers (R000001, F000001, K000001), not derived from a CPR number or a pseudonym:
-- nothing can be read back from them.
-- Input: the temp table `id_requests(person_id, scope, ord)` (ord: the order in which new
-- codes are numbered, so a run numbers its new people reproducibly).
insert into stable_ids
select
    $kind,
    r.person_id,
    r.scope,
    $prefix || lpad(cast(coalesce((select max(cast(substr(code, 2) as bigint))
                                   from stable_ids where kind = $kind), 0)
                         + row_number() over (order by r.ord, r.person_id, r.scope)
                         as varchar), 6, '0'),
    $run_id,
    $as_of
from (select person_id, scope, min(ord) as ord from id_requests group by all) r
where not exists (select 1 from stable_ids s where s.kind = $kind
                  and s.person_id = r.person_id and s.scope = r.scope);
