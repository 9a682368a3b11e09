"""`gureum jobs …` (submit, list, status, logs, cancel, retry) and `gureum worker`."""

from __future__ import annotations

import asyncio
import importlib
import json
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_platform, with_store
from gureum.governance.principal import Principal
import gureum.jobs.builtin  # noqa: F401 - registers the built-in job types
from gureum.jobs import registry
from gureum.jobs.repository import FINAL, Job, JobRepository
from gureum.jobs.worker import Worker
from gureum.store import Store

if TYPE_CHECKING:
    from gureum.platform import Platform

app = typer.Typer(no_args_is_help=True)
console = Console()
TenantOpt = typer.Option("default", "--tenant", "-t", help="Tenant the job belongs to.")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _parse_params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise fail(f"--param '{item}' is not key=value", "e.g. --param input=data.jsonl --param seed=7")
        out[key] = yaml.safe_load(value) if value else ""
    return out


def _spec(path: Path) -> dict[str, Any]:
    try:
        spec = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise fail(f"cannot read job spec {path}: {exc}", "give a YAML file with `type:` and `params:`") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("type"), str):
        raise fail(f"job spec {path} has no `type:`", "a spec is `type: <job type>` and `params: {…}`")
    return spec


@app.command()
def submit(
    spec_file: Path | None = typer.Argument(None, help="A YAML job spec: type, params, max_attempts, resources."),
    type_: str | None = typer.Option(None, "--type", help="Job type (instead of a spec file)."),
    param: list[str] = typer.Option([], "--param", "-p", help="A parameter as key=value (value read as YAML)."),
    user: str | None = typer.Option(None, "--user", help="The user the job runs as (its ACL and budgets)."),
    max_attempts: int | None = typer.Option(None, "--max-attempts", min=1, help="Attempts before it fails."),
    tenant: str = TenantOpt, as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
) -> None:
    """Queue a job."""
    spec = _spec(spec_file) if spec_file else {"type": type_, "params": {}}
    if not spec.get("type"):
        raise fail("no job type given", "pass SPEC.yaml or --type T [--param k=v …]")
    params = {**(spec.get("params") or {}), **_parse_params(param)}
    s = settings(config, data_dir)
    principal = Principal.service(tenant, "cli")
    if user:
        principal = Principal(tenant_id=tenant, key_id=principal.key_id, role=principal.role, user_id=user)

    async def run(store: Store) -> Job:
        return await JobRepository(store.engine).submit(
            principal, str(spec["type"]), params, resources=spec.get("resources"),
            max_attempts=max_attempts or int(spec.get("max_attempts") or s.jobs.max_attempts))

    job = with_store(s, run)
    console.print_json(data=job.public()) if as_json else console.print(job.id)


@app.command("list")
def list_jobs(
    state: str | None = typer.Option(None, "--state", help="Only jobs in this state."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    tenant: str = TenantOpt, as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
) -> None:
    """The tenant's jobs, newest first."""
    jobs = with_store(settings(config, data_dir), lambda st: JobRepository(st.engine).find(tenant, state=state, limit=limit))
    if as_json:
        console.print_json(data=[j.public() for j in jobs])
        return
    table = Table("id", "type", "state", "progress", "attempts", "created")
    for j in jobs:
        total = "?" if j.progress_total is None else str(j.progress_total)
        table.add_row(j.id, j.type, j.state, f"{j.progress_done}/{total}", f"{j.attempts}/{j.max_attempts}",
                      j.created_at.strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)


def _one(tenant: str, job_id: str, job: Job | None) -> Job:
    if job is None:
        raise fail(f"no job '{job_id}' in tenant '{tenant}'", "list them with `gureum jobs list`")
    return job


@app.command()
def status(
    job_id: str, follow: bool = typer.Option(False, "--follow", "-f", help="Show progress until the job ends."),
    tenant: str = TenantOpt, as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
) -> None:
    """A job's state, progress and result."""
    s = settings(config, data_dir)

    async def run(store: Store) -> Job:
        repo = JobRepository(store.engine)
        job = _one(tenant, job_id, await repo.get(tenant, job_id))
        if not follow:
            return job
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console) as bar:
            task = bar.add_task(f"{job.type} {job.state}", total=job.progress_total)
            while job.state not in FINAL:
                bar.update(task, completed=job.progress_done, total=job.progress_total,
                           description=f"{job.type} {job.state}")
                await asyncio.sleep(0.5)
                job = _one(tenant, job_id, await repo.get(tenant, job_id))
            bar.update(task, completed=job.progress_done, total=job.progress_total, description=f"{job.type} {job.state}")
        return job

    job = with_store(s, run)
    if as_json or not follow:
        console.print_json(data=job.public())
    if job.state == "failed":
        raise typer.Exit(1)


@app.command()
def logs(job_id: str, tenant: str = TenantOpt, config: Path | None = ConfigOpt,
         data_dir: Path | None = DataDirOpt) -> None:
    """A job's log lines, every attempt."""

    async def run(store: Store) -> list[dict[str, Any]]:
        repo = JobRepository(store.engine)
        _one(tenant, job_id, await repo.get(tenant, job_id))
        return await repo.logs(job_id)

    for entry in with_store(settings(config, data_dir), run):
        console.print(f"{entry['ts']} [{entry['level']}] (attempt {entry['attempt']}) {entry['message']}",
                      markup=False, highlight=False)


@app.command()
def cancel(job_id: str, tenant: str = TenantOpt, config: Path | None = ConfigOpt,
           data_dir: Path | None = DataDirOpt) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    job = _one(tenant, job_id, with_store(settings(config, data_dir),
                                         lambda st: JobRepository(st.engine).cancel(tenant, job_id)))
    console.print(f"{job.id}: {job.state}" + (" (cancel requested)" if job.state == "running" else ""))


@app.command()
def retry(job_id: str, tenant: str = TenantOpt, config: Path | None = ConfigOpt,
          data_dir: Path | None = DataDirOpt) -> None:
    """Queue a failed or cancelled job again; it resumes from its last checkpoint."""

    async def run(store: Store) -> Job:
        repo = JobRepository(store.engine)
        job = _one(tenant, job_id, await repo.get(tenant, job_id))
        if job.state not in ("failed", "cancelled"):
            raise fail(f"job {job.id} is {job.state}", "only failed or cancelled jobs can be retried")
        return _one(tenant, job_id, await repo.retry(tenant, job_id))

    job = with_store(settings(config, data_dir), run)
    console.print(f"{job.id}: {job.state}")


def worker(
    concurrency: int | None = typer.Option(None, "--concurrency", "-n", min=1, help="Jobs run at once."),
    imports: list[str] = typer.Option([], "--import", help="A module that registers more job types."),
    max_jobs: int | None = typer.Option(None, "--max-jobs", min=1, help="Exit after this many jobs."),
    config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt,
) -> None:
    """Run jobs from the queue until stopped (SIGTERM or Ctrl-C lets running jobs reach their end)."""
    for name in imports:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise fail(f"cannot import job module '{name}': {exc}", "check the module path and PYTHONPATH") from None
    if not registry.types():
        raise fail("no job types are registered", "pass --import MODULE for a module that registers job types")
    s = settings(config, data_dir)
    if concurrency:
        s = s.model_copy(update={"jobs": s.jobs.model_copy(update={"concurrency": concurrency})})

    async def run(platform: Platform) -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        w = Worker(platform.store.engine, s.jobs, s.data_dir, platform=platform)
        console.print(json.dumps({"worker": w.name, "types": registry.types(), "concurrency": s.jobs.concurrency}))
        return await w.run(stop, max_jobs=max_jobs)

    ran = with_platform(s, run)
    console.print(json.dumps({"jobs_run": ran}))


commands = {"worker": worker}
