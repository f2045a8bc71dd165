-- Rows stored per region of the optional tables (fh_screening/quality.py): a region with
-- none of a table lacks what it gives (lipid clinics, family links, genetic tests), and
-- the run summary says what that costs.
select
    r.region,
    (select count(*) from practices p where p.region = r.region) as practices,
    (select count(*) from relations x where x.region = r.region) as relations,
    (select count(*) from genetic_tests g where g.region = r.region) as genetic_tests
from (select unnest($regions) as region) r
order by r.region
