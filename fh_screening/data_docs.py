"""Great Expectations results and Data Docs kept per run, under `<home>/gx/<run_id>/`.

Each file's accepted rows are validated during ingest, before they commit, and before the
run's id is known (the default run id comes from the as-of date, found after ingest). So
the validator keeps each file's GX result as JSON (`<home>/gx/validations/<region>/`,
without row values or pseudonyms: `validate.gx_result_json`), and the output step builds
the run's Data Docs site from the results of the files this run validated:

    <home>/gx/<run_id>/results/<region>/<file>.json   GX validation results
    <home>/gx/<run_id>/index.html                     Data Docs (GX's own SiteBuilder)

GX's Checkpoint with an UpdateDataDocsAction would render the same pages, but only while
it validates; validating the accepted rows again at the end of a run would double the GX
time of a national run (docs/scale.md). So the results go into an ephemeral context's
validation results store and `build_data_docs` renders a file-backed site from them
(STACK.md: an ephemeral context keeps nothing otherwise). A rerun that validated
nothing (every file ingested before) leaves the run's earlier site as it was.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
SITE = "fh_screening_run"


def safe_name(name: str) -> str:
    """A file label as a file name (labels carry no CPR number; see ingest_file)."""
    return _SAFE.sub("_", Path(name).name)[:150] or "file"


def pending_dir(home: Path, region: str) -> Path:
    return home / "gx" / "validations" / region


def run_dir(home: Path, run_id: str) -> Path:
    return home / "gx" / run_id


def keep_result(home: Path, region: str, source: str, result: dict[str, Any] | None) -> None:
    """Keep one file's GX result until its run builds the Data Docs (called by the
    validator, before the file commits; a refused file's result is overwritten when the
    file is delivered again)."""
    if result is None:
        return
    folder = pending_dir(home, region)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / f"{safe_name(source)}.json").write_text(
        json.dumps({"source": source, "result": result}, sort_keys=True), encoding="utf-8")


def build_run_docs(home: Path, run_id: str, as_of: date,
                   validated: dict[str, list[str]]) -> Path | None:
    """Copy this run's GX results (`validated`: region -> file labels) under
    `<home>/gx/<run_id>/` and render its Data Docs there; returns index.html, or the
    earlier site of this run id (None if none) when this run validated no file.
    GX's site builder needs an absolute folder (the demo's home is `workspace`)."""
    home = home.resolve()
    final = run_dir(home, run_id)
    found = [(region, pending_dir(home, region) / f"{safe_name(name)}.json")
             for region, names in sorted(validated.items()) for name in names]
    found = [(region, path) for region, path in found if path.is_file()]
    if not found:
        index = final / "index.html"
        return index if index.is_file() else None
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        (tmp / "results").mkdir(parents=True, mode=0o700)
        for region, path in found:
            (tmp / "results" / region).mkdir(exist_ok=True, mode=0o700)
            shutil.copyfile(path, tmp / "results" / region / path.name)
        _render(tmp, run_id, as_of, found)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the run's earlier site stays as it was
        raise
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final / "index.html"


def _render(site_dir: Path, run_id: str, as_of: date, found: list[tuple[str, Path]]) -> None:
    """GX's SiteBuilder over an ephemeral context holding this run's results."""
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResultSchema,
    )
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    from fh_screening.validate import gx_context_for_docs

    context = gx_context_for_docs()
    context.add_data_docs_site(SITE, {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                          "base_directory": str(site_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"}})
    run_time = datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)
    schema = ExpectationSuiteValidationResultSchema()
    for region, path in found:
        kept = json.loads(path.read_text(encoding="utf-8"))
        result = schema.load(kept["result"])
        identifier = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=RunIdentifier(run_name=run_id, run_time=run_time),
            batch_identifier=f"{region}__{path.stem}")
        context.validation_results_store.set(identifier, result)
    context.build_data_docs(site_names=[SITE])
