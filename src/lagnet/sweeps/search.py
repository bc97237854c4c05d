"""``search = "tpe"``: Optuna's TPE sampler over the ``[random]`` fields, a batch of trials at a
time (one per worker), each trial run at every seed and scored by the mean of the metric. The
study lives in the sweep folder (``optuna.db``, SQLite), so a resumed sweep goes on with it;
trials left running by a killed driver are marked failed. A trial's first seed reports its
validation score to the study at every validation, and Optuna's median pruner may stop it
(the run ends ``pruned``, with its best weights, and the trial is told so)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from lagnet.errors import LagnetError
from lagnet.files import DirectoryLock
from lagnet.samples import StopTraining
from lagnet.sweeps.executors import RayCluster, make_executor
from lagnet.sweeps.folder import finished_row, prepare_folder
from lagnet.sweeps.outputs import write_all, write_csv
from lagnet.sweeps.result import SweepResult
from lagnet.sweeps.spec import point, point_id
from lagnet.sweeps.tracked import track_row, tracked
from lagnet.sweeps.units import Job, stop_if_interrupted

STUDY = "lagnet"


class OptunaPruning:
    """A training callback: report validation to trial ``trial_id`` of the study in
    ``storage``; stop the run when Optuna prunes it. Picklable (it holds names only)."""

    def __init__(self, storage: str, trial_id: int, maximize: bool):
        self.storage, self.trial_id, self.maximize = storage, trial_id, maximize
        self._study = None

    def __getstate__(self) -> dict:
        return dict(self.__dict__, _study=None)

    def __call__(self, row: dict) -> None:
        import optuna

        if self._study is None:
            self._study = optuna.load_study(study_name=STUDY, storage=self.storage)
        trial = optuna.trial.Trial(self._study, self.trial_id)
        value = row["val_r2"]  # each output's error as a share of its variance: not pooled
        if value is None or not math.isfinite(value):  # no output varies: the MSE, if any
            value = None if self.maximize else row["val_mse"]
        elif not self.maximize:
            value = 1 - value
        if value is None or not math.isfinite(value):
            return
        trial.report(float(value), int(row["step"]))
        if trial.should_prune():
            raise StopTraining("pruned")


def suggest(trial, name: str, dist: dict):
    ((kind, arg),) = dist.items()
    if kind == "choice":
        return trial.suggest_categorical(name, arg)
    if kind == "int_uniform":
        return trial.suggest_int(name, arg[0], arg[1])
    return trial.suggest_float(name, float(arg[0]), float(arg[1]), log=kind == "log_uniform")


def tpe(
    spec, base, source, out, workers, ray, resume, dry_run, process, on_row, sets=(), track=None
) -> SweepResult:
    try:
        import optuna
    except ImportError:
        raise LagnetError("search", "tpe", "needs Optuna: pip install 'lagnet[optuna]'") from None

    fields = list(spec.random)
    workers = workers or os.cpu_count() or 1
    if dry_run:
        return SweepResult(None, [], spec, fields, [], None)
    out = prepare_folder(out, source, resume, sets)
    root = out / "points"
    storage = f"sqlite:///{Path(out) / 'optuna.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with DirectoryLock(out, "out"), tracked(track, out) as tracker:
        study = optuna.create_study(
            storage=storage,
            study_name=STUDY,
            load_if_exists=True,
            direction="maximize" if spec.maximize else "minimize",
            pruner=optuna.pruners.MedianPruner(n_startup_trials=2),
        )
        # Seeded by the trials already asked, so a resumed study does not propose its first
        # trials again (a fresh sampler with the same seed would).
        study.sampler = optuna.samplers.TPESampler(seed=spec.sample_seed + len(study.trials))
        states = optuna.trial.TrialState
        rows: dict[str, dict] = {}
        for t in study.get_trials(states=(states.COMPLETE, states.PRUNED, states.FAIL)):
            for pid, seed in t.user_attrs.get("points", []):
                job = Job(pid, t.params, seed, base)
                rows[pid] = finished_row(job, root) or _missing(job)
                track_row(tracker, rows[pid], root)  # finished before this resume: logged once
        # Trials left running by a killed driver go on (their points from their checkpoints);
        # one killed before its values were all chosen failed.
        left = []
        for t in study.get_trials(states=(states.RUNNING,)):
            if set(t.params) == set(spec.random):
                left.append((t.number, t._trial_id, {k: t.params[k] for k in spec.random}))
            else:
                study.tell(t.number, state=states.FAIL)
        asked = len(study.trials)  # failed trials count: a resume does not ask for them again
        known = set(rows)
        executor = make_executor(root, workers, ray, process, workers)
        try:
            while left or asked < spec.trials:
                batch, left = left[:workers], left[workers:]
                for _ in range(min(workers - len(batch), spec.trials - asked)):
                    trial = study.ask()
                    values = {name: suggest(trial, name, d) for name, d in spec.random.items()}
                    batch.append((trial.number, trial._trial_id, values))
                    asked += 1
                units, by_trial, queued = [], {}, set()
                for number, trial_id, values in batch:
                    jobs = []
                    for i, seed in enumerate(spec.seed_list):
                        cbs = [OptunaPruning(storage, trial_id, spec.maximize)] if i == 0 else []
                        p = point(base, values, seed)
                        jobs.append(Job(point_id(values, seed), values, seed, p.config, cbs))
                    trial = optuna.trial.Trial(study, trial_id)
                    trial.set_user_attr("points", [[j.id, j.seed] for j in jobs])
                    by_trial[number] = jobs
                    # values proposed again (by an earlier trial or one of this batch) run
                    # once, and the trials share their rows; a point that finished before a
                    # killed driver recorded it is read back
                    fresh = []
                    for j in jobs:
                        if j.id in queued or (j.id in rows and not _is_missing(rows[j.id])):
                            continue
                        done = finished_row(j, root)
                        if done is not None:
                            rows[j.id] = done
                        else:
                            fresh.append(j)
                    queued.update(j.id for j in fresh)
                    known.update(j.id for j in jobs)
                    units += [[j] for j in fresh]
                later = max(spec.trials - asked, 0) + len(left)
                total = len(known) + later * len(spec.seed_list)
                for _, unit_rows in executor.run(units):
                    for r in unit_rows:
                        rows[r["id"]] = r
                        track_row(tracker, r, root)
                        if on_row is not None:
                            on_row(r, len(rows), total)
                    write_csv(list(rows.values()), fields, out / "sweep.csv")
                    stop_if_interrupted(unit_rows)  # its trial left running
                for number, jobs in by_trial.items():
                    _tell(study, number, [rows[j.id] for j in jobs], spec.metric)
        finally:
            if isinstance(executor, RayCluster):
                executor.close()
        result = list(rows.values())
        write_csv(result, fields, out / "sweep.csv")
        write_all(out, result, fields, spec.metric, spec.maximize)
    return SweepResult(out, result, spec, fields)


MISSING = "no finished run directory for this trial"


def _is_missing(row: dict) -> bool:
    return row.get("error") == MISSING


def _missing(job: Job) -> dict:
    return dict(id=job.id, values=job.values, seed=job.seed, seconds=0.0, status="failed",
                error=MISSING)  # fmt: skip


def _tell(study, number: int, rows: list[dict], metric: str) -> None:
    import optuna

    states = optuna.trial.TrialState
    if any(r.get("stopped") == "pruned" for r in rows):
        study.tell(number, state=states.PRUNED)
        return
    values = [r.get(metric) for r in rows if r["status"] == "complete"]
    values = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not values:
        study.tell(number, state=states.FAIL)
    else:
        study.tell(number, sum(values) / len(values))
