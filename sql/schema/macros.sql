-- CPR-number helpers (DOMAIN.md "Danish context"). Temporary macros: defined per
-- connection, never persisted in the store.
-- A CPR number is DDMMYY-SSSS (the dash optional). The 7th digit with the year gives the
-- century (CPR-kontoret's rule): 0-3 -> 1900s; 4 and 9 -> 2000s if YY <= 36 else 1900s;
-- 5-8 -> 2000s if YY <= 57 else 1800s. The last digit is odd for men, even for women.
-- The modulus-11 check is not applied: it is not valid for all numbers issued since 2007.

-- The ten digits, or NULL when the text is not shaped like a CPR number.
create or replace temp macro cpr_digits(raw) as
    case when regexp_full_match(trim(raw), '[0-9]{6}-?[0-9]{4}') then replace(trim(raw), '-', '') end;

create or replace temp macro cpr_birth_date(d) as
    try_strptime(
        cast(
            case
                when cast(d[7] as integer) <= 3 then 1900
                when cast(d[7] as integer) in (4, 9) then
                    case when cast(d[5:6] as integer) <= 36 then 2000 else 1900 end
                else case when cast(d[5:6] as integer) <= 57 then 2000 else 1800 end
            end + cast(d[5:6] as integer) as varchar
        ) || d[3:4] || d[1:2],
        '%Y%m%d'
    )::date;

create or replace temp macro cpr_sex(d) as
    case when cast(d[10] as integer) % 2 = 1 then 'M' else 'F' end;

-- Keyed pseudonym: HMAC-SHA256(key, ten CPR digits) as a 64-bit integer: its first 62
-- bits with bit 62 set, so every pseudonym lies in [2^62, 2^63) and a raw CPR number
-- (below 10^10) can never pass for one (expectations/). An integer key is what makes
-- national joins fast (docs/scale.md: 2-5x faster than 32 hex characters); two CPR
-- numbers sharing a pseudonym (about 4 in a million for 6 million people) is refused
-- by the vault (fh_screening/privacy.py: add_identities), never merged. ipad/opad are
-- the key XOR 0x36 / 0x5c (RFC 2104), passed as query parameters, never stored.
create or replace temp macro pseudonym(d, ipad, opad) as
    ((('0x' || left(sha256(opad || unhex(sha256(ipad || encode(d)))), 16))::ubigint >> 2)
     | (1::ubigint << 62))::bigint;

-- Why a CPR field cannot be accepted, or NULL when it can.
create or replace temp macro cpr_problem(raw) as
    case
        when raw is null or trim(raw) = '' then 'missing CPR number'
        when cpr_digits(raw) is null then 'not a CPR number (expected DDMMYY-SSSS)'
        when cpr_birth_date(cpr_digits(raw)) is null then 'CPR number has an impossible date'
    end;

-- Numbers from text. With a decimal comma only "123" or "123,45" is accepted: a point in
-- a decimal-comma file may be a thousands separator, so it is refused, not guessed.
-- Without it, plain decimals and exponents; never 'inf' or 'nan', and a number too large
-- for a double ('1E400', found by tests/test_properties.py) is no number either.
create or replace temp macro finite_or_null(x) as case when isfinite(x) then x end;

create or replace temp macro parse_number(txt, decimal_comma) as
    finite_or_null(case
        when decimal_comma then
            case when regexp_full_match(trim(txt), '[-+]?[0-9]+(,[0-9]+)?')
                 then cast(replace(trim(txt), ',', '.') as double) end
        else
            case when regexp_full_match(trim(txt), '[-+]?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?')
                 then cast(trim(txt) as double) end
    end);

-- Dates and times from text, by the dialect's format. A year before 1900 is no date:
-- strptime reads a two-digit year ("17-07-23") under %Y as the year 0023, which turned a
-- statin start into a 2,000-year treatment and an LDL of 4.5 into a false referral.
create or replace temp macro from_1900(x) as case when year(x) >= 1900 then x end;

create or replace temp macro parse_date(txt, fmt) as
    from_1900(cast(try_strptime(nullif(trim(txt), ''), fmt) as date));

create or replace temp macro parse_timestamp(txt, fmt) as
    from_1900(try_strptime(nullif(trim(txt), ''), fmt));

-- ICD-10 codes to the dotted form ("E78.0"). LPR style prefixes a 'D' and drops the dot
-- ("DE780"). NULL when the code is not shaped like ICD-10.
create or replace temp macro parse_icd10(code, style) as
    case
        when style = 'lpr' and regexp_full_match(upper(trim(code)), 'D[A-Z][0-9]{2}[0-9A-Z]{0,4}')
            then substr(upper(trim(code)), 2, 3)
                 || case when length(trim(code)) > 4 then '.' || substr(upper(trim(code)), 5) else '' end
        when style = 'dotted' and regexp_full_match(upper(trim(code)), '[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?')
            then upper(trim(code))
    end;

-- Anything shaped like a CPR number (DDMMYY-SSSS, dash optional) in a text that leaves
-- the row (a quarantine reason or value, a message) is replaced: a CPR number in the wrong
-- column, an unmapped column or a lab code must not reach the store (issue 20).
create or replace temp macro redact_cpr(txt) as
    regexp_replace(txt, '[0-9]{6}-?[0-9]{4}', '<cpr>', 'g');

-- The offending value of a quarantined row, kept to help fix it, only when it cannot be
-- an identifier: no CPR-shaped number in it, and at most 60 characters (free text is no
-- value to keep).
create or replace temp macro quarantine_value(v) as
    case when v is null or regexp_matches(v, '[0-9]{6}-?[0-9]{4}') or length(v) > 60 then null
         else v end;
