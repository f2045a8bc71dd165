"""The peer baseline: the screening a regional data team would write by hand in pandas.

    .venv/bin/python benchmarks/peer_pandas.py <extract root> <out dir> --as-of 2026-06-30

<extract root> holds one folder per region (syddanmark/, midtjylland/), as the
pipeline's. The script does what issue 23 lists, vectorised, as a competent analyst would:
read both dialects (the latin-1 ';' CSV with decimal commas through pyarrow's CSV reader,
the Parquet as typed), convert units, LDL per sample (reported, else Friedewald while
TG <= 4.5), the statin-corrected estimate (ldl / (1 - r), statins one class, the latest
started counts, classes combined 1 - prod(1 - r), capped), the index LDL (the highest
estimate), the age-band rule, DLCN (LDL points, own premature vascular disease, family
history from first-degree relatives: premature CHD or LDL above the 95th percentile for
sex and age band, a child under 18 above it; DNA), exclusions (known FH, positive test,
a secondary cause at the index sample: TSH, albumin, cholestasis, triglycerides) and
CSV lists per lipid clinic, per GP practice and a cascade list of the flagged people's
first-degree relatives.

It reads the project's own dialect, unit and threshold files (a data team would copy the
numbers; reading them keeps the two on the same rules). What it does not do, and the
pipeline does: pseudonymise, quarantine bad rows with reasons, validate, keep a store and
history, the evidence model of the untreated LDL, Simon Broome and MEDPED, second-degree
relatives, the risk model, XLSX and HTML, re-referral rules, incremental runs.

Prints one JSON line with the stage times (read, compute, write) and the counts. Not part
of the product: `benchmarks/national.py` times it beside the pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config"
TABLES = ("patients", "practices", "lab_results", "prescriptions", "diagnoses",
          "relations", "genetic_tests")


def _val(entry):
    return entry["value"] if isinstance(entry, dict) else entry


# ---------------------------------------------------------------------------------------
# read
# ---------------------------------------------------------------------------------------
# canonical columns the reader parses as timestamps or numbers; the rest is text
DATE_COLUMNS = {"birth_date", "deceased_date", "start_date", "end_date", "diagnosed_at",
                "tested_at", "sampled_at"}
NUMBER_COLUMNS = {"source_value", "strength_mg"}
CPR_COLUMNS = ("cpr", "relative_cpr")


def read_table(folder: Path, dialect: dict, table: str) -> pd.DataFrame:
    """All files of one table in one region, columns renamed to the canonical names, dates
    and numbers parsed by the reader (pyarrow's, decimal comma included), CPR numbers as
    int64 keys (the ten digits): joins on integers, not text."""
    reg = dialect["region"]
    columns = dialect["columns"][table]
    rename = {src: canon for canon, src in columns.items()}
    frames = []
    for path in sorted(folder.glob(dialect["files"][table])):
        if reg["format"] == "csv":  # as text, then parsed leniently: a bad value is null
            arrow = pacsv.read_csv(
                path, read_options=pacsv.ReadOptions(encoding=reg["encoding"]),
                parse_options=pacsv.ParseOptions(delimiter=reg["delimiter"]),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in columns.values()},
                    include_columns=list(columns.values()), strings_can_be_null=True))
            for canon, src in columns.items():
                i = arrow.column_names.index(src)
                if canon in DATE_COLUMNS:
                    fmt = reg["timestamp_format" if canon == "sampled_at" else "date_format"]
                    arrow = arrow.set_column(i, src, pc.strptime(
                        arrow[src], format=fmt, unit="us", error_is_null=True))
                elif canon in NUMBER_COLUMNS:
                    text = pc.replace_substring(arrow[src], reg.get("decimal", "."), ".")
                    number = pd.to_numeric(text.to_pandas(), errors="coerce")
                    arrow = arrow.set_column(i, src, pa.array(number, pa.float64()))
        else:
            arrow = pq.read_table(path, columns=list(columns.values()))
        arrow = arrow.rename_columns([rename[c] for c in arrow.column_names])
        for name in arrow.column_names:
            if name in CPR_COLUMNS:
                digits = pc.replace_substring(pc.utf8_trim_whitespace(arrow[name]), "-", "")
                arrow = arrow.set_column(arrow.column_names.index(name), name,
                                         pc.cast(digits, pa.int64()))
            elif pa.types.is_string(arrow[name].type) or pa.types.is_large_string(
                    arrow[name].type):  # codes: few distinct values
                arrow = arrow.set_column(arrow.column_names.index(name), name,
                                         pc.dictionary_encode(arrow[name]))
        frames.append(arrow)
    if not frames:
        return pd.DataFrame(columns=[*columns])
    return pa.concat_tables(frames).to_pandas(date_as_object=False)


def cpr_birth_sex(cpr: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Birth date and sex from the CPR number (CPR-kontoret's century rule)."""
    num = cpr.to_numpy()
    dd, mm, yy = num // 10**8, num // 10**6 % 100, num // 10**4 % 100
    d7 = num // 1000 % 10
    century = np.where(d7 <= 3, 1900,
                       np.where(np.isin(d7, [4, 9]), np.where(yy <= 36, 2000, 1900),
                                np.where(yy <= 57, 2000, 1800)))
    birth = pd.to_datetime(pd.DataFrame({"year": century + yy, "month": mm, "day": dd}),
                           errors="coerce")
    sex = pd.Series(np.where(num % 2 == 1, "M", "F"), index=cpr.index)
    return birth.set_axis(cpr.index), sex


def cpr_text(key: pd.Series) -> pd.Series:
    """int64 key -> DDMMYY-SSSS, as the lists show it."""
    digits = key.astype("int64").astype(str).str.zfill(10)
    return digits.str[:6] + "-" + digits.str[6:]


def read_region(folder: Path, dialect: dict, units: dict) -> dict[str, pd.DataFrame]:
    """One region's tables, mapped to canonical codes and units."""
    reg = dialect["region"]
    out = {t: read_table(folder, dialect, t) for t in TABLES}
    name = reg["name"]

    p = out["patients"]
    if "birth_date" not in p:
        p["birth_date"], p["sex"] = cpr_birth_sex(p["cpr"])
    else:
        p["sex"] = p["sex"].map(dialect.get("values", {}).get("sex", {"M": "M", "F": "F"}))
    p["region"] = name

    lab = out["lab_results"]
    # analyte and unit factor per (code, unit) pair, looked up by the categories' codes
    code, unit = lab["source_code"].cat, lab["source_unit"].cat
    analytes = pd.Series(code.categories).map(dialect["lab_codes"])
    factor = np.full((len(code.categories) + 1, len(unit.categories) + 1), np.nan)
    for i, analyte in analytes.items():
        for j, u in enumerate(unit.categories):
            factor[i, j] = units.get(analyte, {}).get("convert", {}).get(u, np.nan)
    as_analyte = pd.Categorical(analytes, categories=list(units)).codes  # the same in all regions
    lab["analyte"] = pd.Categorical.from_codes(
        np.where(code.codes >= 0, as_analyte[code.codes], -1), categories=list(units))
    lab["value"] = lab["source_value"].to_numpy() * factor[code.codes, unit.codes]
    lab = lab[(lab["value"] > 0) & lab["sampled_at"].notna()]
    out["lab_results"] = lab[["cpr", "sampled_at", "analyte", "value"]]

    rx = out["prescriptions"]
    rx["strength_mg"] = rx["strength_mg"].astype(float)

    dx = out["diagnoses"]
    if reg.get("icd10_style") == "lpr":  # "DE780" -> "E78.0"
        code = dx["icd10"].str[1:]
        dx["icd10"] = code.str[:3] + np.where(code.str.len() > 3, "." + code.str[3:], "")

    rel = out["relations"]
    rel["relation"] = rel["relation"].map(dialect["values"]["relation"])
    gt = out["genetic_tests"]
    gt["result"] = gt["result"].map(dialect["values"]["genetic_result"])
    out["practices"]["region"] = name
    return out


def read_all(root: Path, regions: list[str]) -> dict[str, pd.DataFrame]:
    units = tomllib.loads((CONFIG / "units.toml").read_text())
    parts = []
    for region in regions:
        dialect = tomllib.loads((CONFIG / "regions" / f"{region}.toml").read_text())
        parts.append(read_region(root / region, dialect, units))
    return {t: pd.concat([p[t] for p in parts], ignore_index=True) for t in TABLES}


# ---------------------------------------------------------------------------------------
# compute
# ---------------------------------------------------------------------------------------
def _age(birth: pd.Series, day: pd.Series | pd.Timestamp) -> pd.Series:
    day = pd.Series(day, index=birth.index) if isinstance(day, pd.Timestamp) else day
    years = day.dt.year - birth.dt.year
    before = (day.dt.month * 100 + day.dt.day) < (birth.dt.month * 100 + birth.dt.day)
    return years - before.astype(int)


def reductions(rx: pd.DataFrame, th: dict) -> pd.DataFrame:
    """Lipid-lowering prescriptions with their nominal LDL reduction and class."""
    t = th["treatment"]
    rx = rx[rx["atc_code"].str.startswith("C10", na=False)].copy()
    dose = {(atc, float(mg)): r for atc, d in t["drugs"].items() for mg, r in d["doses"].items()}
    default = {atc: d["default"] for atc, d in t["drugs"].items()}
    keys = pd.MultiIndex.from_arrays([rx["atc_code"], rx["strength_mg"]])
    by_dose = pd.Series(keys.map(lambda k: dose.get(k, np.nan)), index=rx.index, dtype=float)
    rx["reduction"] = by_dose.fillna(rx["atc_code"].map(default)).fillna(
        _val(t["class_default_reduction"]))
    rx["drug_class"] = np.where(rx["atc_code"].str.startswith(_val(t["statin_atc_prefix"])),
                                "statin", rx["atc_code"])
    return rx


def compute(data: dict[str, pd.DataFrame], as_of: date, th: dict) -> dict[str, pd.DataFrame]:
    ref, dl = th["referral"], th["dlcn"]
    as_of_ts = pd.Timestamp(as_of)
    lab = data["lab_results"]
    lab = lab[lab["sampled_at"] <= as_of_ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)]

    # LDL per sample: reported, else Friedewald while TG is low enough
    lipids = lab[lab["analyte"].isin(["ldl", "total_chol", "hdl", "triglycerides"])]
    panels = lipids.pivot_table(index=["cpr", "sampled_at"], columns="analyte",
                                values="value", aggfunc="max").reset_index()
    for col in ("ldl", "total_chol", "hdl", "triglycerides"):
        if col not in panels:
            panels[col] = np.nan
    friedewald = panels["total_chol"] - panels["hdl"] - panels["triglycerides"] / 2.2
    friedewald[panels["triglycerides"] > _val(th["ldl"]["friedewald_max_tg"])] = np.nan
    panels["ldl_value"] = panels["ldl"].fillna(friedewald)
    panels = panels[panels["ldl_value"] > 0].reset_index(drop=True)
    panels["sample_day"] = panels["sampled_at"].dt.normalize()

    # treatment acting on each sample
    rx = reductions(data["prescriptions"], th)
    onset = pd.Timedelta(days=int(_val(th["treatment"]["effect_onset_days"])))
    on = panels[["cpr", "sampled_at", "sample_day"]].merge(
        rx[["cpr", "drug_class", "reduction", "start_date", "end_date"]], on="cpr")
    on = on[(on["start_date"] + onset <= on["sample_day"])
            & (on["end_date"].isna() | (on["end_date"] >= on["sample_day"]))]
    on = on.sort_values(["start_date", "reduction"]).drop_duplicates(
        ["cpr", "sampled_at", "drug_class"], keep="last")  # one drug per class: the latest
    on["keep"] = np.log1p(-on["reduction"])
    combined = on.groupby(["cpr", "sampled_at"], as_index=False)["keep"].sum()
    combined["reduction"] = np.minimum(_val(th["treatment"]["max_reduction"]),
                                       1 - np.exp(combined["keep"]))
    panels = panels.merge(combined[["cpr", "sampled_at", "reduction"]],
                          on=["cpr", "sampled_at"], how="left")
    panels["treated"] = panels["reduction"].notna()
    panels["reduction"] = panels["reduction"].fillna(0.0)
    panels["untreated_ldl"] = panels["ldl_value"] / (1 - panels["reduction"])

    # index LDL: the highest estimate per person (latest on ties)
    idx = panels.sort_values(["untreated_ldl", "sampled_at"]).drop_duplicates("cpr", keep="last")
    people = data["patients"].drop_duplicates("cpr", keep="last")
    alive = people[people["deceased_date"].isna() | (people["deceased_date"] > as_of_ts)]
    idx = idx.merge(alive[["cpr", "birth_date", "sex", "gp_practice_id", "region"]], on="cpr")
    idx["age_at_index"] = _age(idx["birth_date"], idx["sample_day"])
    idx["age_now"] = _age(idx["birth_date"], as_of_ts)

    # age-band rule
    age, ldl = idx["age_at_index"], idx["untreated_ldl"]
    idx["ldl_rule"] = np.where(
        age <= _val(ref["child_max_age"]), ldl > _val(ref["child_ldl_above"]),
        np.where(age <= _val(ref["young_adult_max_age"]), ldl > _val(ref["young_adult_ldl_above"]),
                 ldl >= _val(ref["adult_ldl_at_least"])))

    # 95th percentile of the index LDL by sex and age band
    bands = th["percentiles"]["fallback"]["bands"]
    edges = [b["from_age"] for b in bands] + [10_000]
    idx["band"] = pd.cut(idx["age_at_index"], edges, right=False, labels=False)
    p95 = idx.groupby(["sex", "band"])["untreated_ldl"].agg(
        p95=lambda s: s.quantile(_val(th["percentiles"]["percentile"])), n="size").reset_index()
    fallback = pd.DataFrame([{"sex": s, "band": i, "fallback": b[s]}
                             for i, b in enumerate(bands) for s in ("M", "F")])
    p95 = fallback.merge(p95, on=["sex", "band"], how="left")
    p95["p95"] = np.where(p95["n"] >= _val(th["percentiles"]["min_people"]), p95["p95"],
                          p95["fallback"])
    idx = idx.merge(p95[["sex", "band", "p95"]], on=["sex", "band"], how="left")
    idx["above_p95"] = idx["untreated_ldl"] > idx["p95"]

    # own premature vascular disease (age at diagnosis below the sex's limit)
    dx = data["diagnoses"].merge(people[["cpr", "birth_date", "sex"]], on="cpr")
    dx = dx[dx["diagnosed_at"] <= as_of_ts]
    dx_age = _age(dx["birth_date"], dx["diagnosed_at"])
    premature = dx_age < np.where(dx["sex"] == "M", _val(dl["premature_men_before"]),
                                  _val(dl["premature_women_before"]))
    code3 = dx["icd10"].str[:3]
    chd = set(dx.loc[premature & code3.between("I20", "I25"), "cpr"])
    other = set(dx.loc[premature & (code3.between("I63", "I66") | code3.between("I70", "I74")),
                       "cpr"])
    known_fh = set(dx.loc[dx["icd10"].str.startswith("E78.0"), "cpr"])
    gt = data["genetic_tests"]
    positive = set(gt.loc[(gt["result"] == "positive") & (gt["tested_at"] <= as_of_ts), "cpr"])

    # family history from first-degree relatives
    rel = data["relations"]
    rel = rel[rel["relation"].isin(["mother", "father", "sibling", "child"])]
    facts = idx[["cpr", "above_p95", "age_at_index"]].rename(columns={"cpr": "relative_cpr"})
    fam = rel.merge(facts, on="relative_cpr", how="left")
    fam["chd"] = fam["relative_cpr"].isin(chd)
    fam["child_above"] = ((fam["relation"] == "child") & fam["above_p95"].fillna(False)
                          & (fam["age_at_index"] < _val(dl["child_under"])))
    fam["adult_item"] = fam["chd"] | fam["above_p95"].fillna(False).astype(bool)
    fam_points = fam.groupby("cpr").agg(adult=("adult_item", "any"), child=("child_above", "any"))

    # DLCN
    idx = idx.join(fam_points, on="cpr")
    ldl_pts = np.select(
        [ldl >= _val(dl["ldl_8_points_at_least"]), ldl >= _val(dl["ldl_5_points_at_least"]),
         ldl >= _val(dl["ldl_3_points_at_least"]), ldl >= _val(dl["ldl_1_point_at_least"])],
        [8, 5, 3, 1], 0)
    own = np.where(idx["cpr"].isin(chd), _val(dl["own_chd_points"]),
                   np.where(idx["cpr"].isin(other), _val(dl["own_other_vascular_points"]), 0))
    child, adult = (idx[c].fillna(False).astype(bool) for c in ("child", "adult"))
    family = np.where(child, _val(dl["family_child_points"]),
                      np.where(adult, _val(dl["family_points"]), 0))
    dna = np.where(idx["cpr"].isin(positive), _val(dl["dna_points"]), 0)
    idx["dlcn_points"] = ldl_pts + own + family + dna
    idx["dlcn_rule"] = idx["dlcn_points"] > _val(dl["refer_above"])
    idx["flagged"] = idx["ldl_rule"] | idx["dlcn_rule"]

    # exclusions: known FH, positive test, a secondary cause near the index sample
    sc = th["secondary_causes"]
    flagged = idx[idx["flagged"]].copy()
    others = lab[lab["analyte"].isin(["tsh", "albumin", "alp", "bilirubin"])
                 & lab["cpr"].isin(flagged["cpr"])]
    near = flagged[["cpr", "sample_day"]].merge(others, on="cpr")
    near = near[(near["sampled_at"].dt.normalize() - near["sample_day"]).abs()
                <= pd.Timedelta(days=int(_val(sc["window_days"])))]
    worst = near.pivot_table(index="cpr", columns="analyte", values="value",
                             aggfunc=["max", "min"])
    def _col(agg: str, analyte: str) -> pd.Series:
        key = (agg, analyte)
        return (worst[key] if key in worst else pd.Series(np.nan, index=worst.index)).reindex(
            flagged["cpr"]).to_numpy()
    flagged["high_tsh"] = _col("max", "tsh") > _val(sc["tsh_above"])
    flagged["low_albumin"] = _col("min", "albumin") < _val(sc["albumin_below"])
    flagged["cholestasis"] = ((_col("max", "alp") > _val(sc["alp_above"]))
                              & (_col("max", "bilirubin") > _val(sc["bilirubin_above"])))
    flagged["high_tg"] = flagged["triglycerides"] > _val(sc["triglycerides_above"])
    flagged["known_fh"] = flagged["cpr"].isin(known_fh)
    flagged["genetic_positive"] = flagged["cpr"].isin(positive)
    reasons = {"known_fh": "known FH", "genetic_positive": "positive genetic test",
               "high_tsh": "high TSH", "low_albumin": "low albumin",
               "cholestasis": "cholestasis", "high_tg": "very high triglycerides"}
    flagged["exclusions"] = ""
    for col, text in reasons.items():
        flagged.loc[flagged[col], "exclusions"] += text + "; "
    flagged["referred"] = flagged["exclusions"] == ""

    practices = data["practices"].drop_duplicates(["region", "gp_practice_id"], keep="last")
    flagged = flagged.merge(practices[["region", "gp_practice_id", "lipid_clinic_id"]],
                            on=["region", "gp_practice_id"], how="left")
    flagged = flagged.sort_values(["dlcn_points", "untreated_ldl"], ascending=False)
    listed = flagged[["cpr", "age_now", "sex", "region", "gp_practice_id", "lipid_clinic_id",
                      "sampled_at", "ldl_value", "treated", "reduction", "untreated_ldl",
                      "dlcn_points", "ldl_rule", "dlcn_rule", "exclusions", "referred"]]

    # cascade: first-degree relatives of the referred people
    index_cases = listed[listed["referred"]][["cpr", "lipid_clinic_id"]]
    cascade = index_cases.merge(rel, on="cpr").rename(columns={"cpr": "index_cpr"})
    cascade = cascade.merge(people[["cpr", "birth_date", "sex"]].rename(
        columns={"cpr": "relative_cpr", "sex": "relative_sex"}), on="relative_cpr", how="left")
    cascade["relative_age"] = _age(cascade["birth_date"], as_of_ts)
    cascade["already_flagged"] = cascade["relative_cpr"].isin(listed["cpr"])
    cascade = cascade.sort_values(["lipid_clinic_id", "index_cpr", "relation"])
    return {"screened": idx, "list": listed, "cascade": cascade.drop(columns="birth_date")}


# ---------------------------------------------------------------------------------------
# write
# ---------------------------------------------------------------------------------------
def write(result: dict[str, pd.DataFrame], out: Path) -> int:
    files = 0
    listed = result["list"]
    for folder, frame, key in (("referrals", listed[listed["referred"]], "lipid_clinic_id"),
                               ("gp_reports", listed, "gp_practice_id"),
                               ("cascade", result["cascade"], "lipid_clinic_id")):
        (out / folder).mkdir(parents=True, exist_ok=True)
        frame = frame.assign(**{c: cpr_text(frame[c]) for c in
                                ("cpr", "index_cpr", "relative_cpr") if c in frame})
        for name, group in frame.groupby(frame[key].fillna("none")):
            group.to_csv(out / folder / f"{name}.csv", index=False)
            files += 1
    return files


def _high_water_bytes() -> int:
    """This process's peak RSS (VmHWM; see benchmarks/national.py for why not ru_maxrss)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("extracts", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 30))
    parser.add_argument("--regions", nargs="+", default=["syddanmark", "midtjylland"])
    args = parser.parse_args(argv)
    th = tomllib.loads((CONFIG / "thresholds.toml").read_text())
    t0 = time.perf_counter()
    data = read_all(args.extracts, args.regions)
    t1 = time.perf_counter()
    result = compute(data, args.as_of, th)
    t2 = time.perf_counter()
    files = write(result, args.out)
    t3 = time.perf_counter()
    listed = result["list"]
    print(json.dumps({
        "stages": {"read": round(t1 - t0, 2), "compute": round(t2 - t1, 2),
                   "write": round(t3 - t2, 2)},
        "wall_seconds": round(t3 - t0, 2),
        "lab_rows": len(data["lab_results"]), "screened": len(result["screened"]),
        "flagged": len(listed), "ldl_rule": int(listed["ldl_rule"].sum()),
        "referred": int(listed["referred"].sum()), "cascade_relatives": len(result["cascade"]),
        "files": files, "peak_rss_gib": round(_high_water_bytes() / 2**30, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
