"""A Project CodeNet tree as a source: shards are runs of metadata CSVs (one per problem)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ocrl.codenet.reader import Submission, finite_number, metadata_files, read_submissions
from ocrl.codenet.statements import (decode_statement, iter_statement_files, read_problem_list,
                                     read_statement)
from ocrl.errors import InputError
from ocrl.prepare import twins
from ocrl.prepare.config import PrepareConfig
from ocrl.prepare.schema import ProblemInfo, ShardTask


def _limit(text) -> int | None:
    value = finite_number(text)
    return int(value) if value is not None and value > 0 else None


def statements_location(config: PrepareConfig, root: Path, work: Path) -> str | None:
    """A directory of pNNNNN.html files; a tarball is unpacked once into the work dir (the
    workers then read single pages by name)."""
    import shutil

    location = Path(config.statements) if config.statements else root / "problem_descriptions"
    if not location.exists():
        if config.statements:
            raise InputError("statements not found", path=str(location), field="statements")
        return None
    if location.is_dir():
        return str(location)
    target = work / "statements"
    marker = target / ".complete"
    if not marker.is_file():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        try:
            for problem_id, data in iter_statement_files(location):
                (target / f"{problem_id}.html").write_bytes(data)
        except InputError as exc:  # already names the file; add which option gave it
            raise InputError(str(exc), field="statements") from None
        marker.write_text("ok")
    return str(target)


def _twin_clusters(config: PrepareConfig, root: Path, statements: str | None,
                   problem_ids: list[str]) -> tuple[dict[str, str], str]:
    derived = root / twins.DERIVED_CLUSTERS
    if config.twins == "derived" and not derived.is_file():
        raise InputError("twins: derived asks for CodeNet's list of identical problems, which "
                         "this tree lacks", path=str(derived), field="twins")
    texts = None
    if statements and (config.twins == "statements"
                       or (config.twins == "auto" and not derived.is_file())):
        # Raw pages, not parsed ones: similarity needs the words, and parsing 4,000 pages
        # here would cost what the workers spend on them.
        texts = {}
        for problem_id in problem_ids:
            page = Path(statements) / f"{problem_id}.html"
            if page.is_file():
                texts[problem_id] = decode_statement(page.read_bytes())
    return twins.cluster_problems(problem_ids, root=root, statements=texts,
                                  method=config.twins, threshold=config.twin_similarity)


def plan_codenet(config: PrepareConfig, work: Path) -> tuple[list[ShardTask], dict, Counter]:
    root = Path(config.path)
    if not (root / "metadata").is_dir():
        raise InputError("not a Project CodeNet tree: no metadata/ directory", path=str(root),
                         field="path")
    listed = read_problem_list(root / "metadata" / "problem_list.csv")
    statements = statements_location(config, root, work)
    files = metadata_files(root)
    counts: Counter = Counter()
    seen = {f.stem for f in files}
    counts["problems/listed_without_metadata"] = len(set(listed) - seen)
    budget = max(1, config.shard_rows) * 90  # ~90 bytes per metadata row
    batches: list[list[Path]] = []
    batch: list[Path] = []
    size = 0
    for file in files:
        batch.append(file)
        size += file.stat().st_size
        if size >= budget:
            batches.append(batch)
            batch, size = [], 0
    if batch:
        batches.append(batch)
    source_name = config.source_name or "codenet"
    clusters, how = _twin_clusters(config, root, statements, sorted(seen))
    tasks = []
    for index, batch in enumerate(batches):
        infos = {}
        for file in batch:
            row = listed.get(file.stem)
            if row is not None:
                infos[file.stem] = ProblemInfo(
                    problem_id=file.stem, name=row.get("name") or None,
                    dataset=row.get("dataset") or None, time_limit_ms=_limit(row.get("time_limit")),
                    memory_limit_kb=_limit(row.get("memory_limit")),
                    rating=finite_number(row.get("rating")))
        tasks.append(ShardTask(index, "codenet", [str(f) for f in batch], infos,
                               root=str(root), statements=statements, source_name=source_name,
                               clusters={f.stem: clusters[f.stem] for f in batch}))
    source = {"kind": "codenet", "path": str(root),
              "statements": config.statements or statements,
              "metadata_files": len(files), "problem_list_rows": len(listed),
              "twins": twins.summary(clusters, how)}
    return tasks, source, counts


def _problem(task: ShardTask, problem_id: str) -> ProblemInfo:
    info = task.problems.get(problem_id) or ProblemInfo(problem_id)
    info.cluster_id = task.clusters.get(problem_id)
    if task.statements:
        statement = read_statement(Path(task.statements), problem_id)
        if statement is not None:
            info.prompt = statement.prompt
            info.tests = list(statement.tests)
            info.time_limit_ms = info.time_limit_ms or statement.time_limit_ms
            info.memory_limit_kb = info.memory_limit_kb or statement.memory_limit_kb
    derived = Path(task.root) / "derived" / "input_output" / "data" / problem_id
    if (derived / "input.txt").is_file() and (derived / "output.txt").is_file():
        case = {"input": (derived / "input.txt").read_text(encoding="utf-8", errors="replace"),
                "output": (derived / "output.txt").read_text(encoding="utf-8", errors="replace")}
        if case not in info.tests:
            info.tests.append(case)
    return info


def codenet_problems(task: ShardTask, config: PrepareConfig,
                     counts: Counter) -> Iterator[tuple[ProblemInfo, list[Submission]]]:
    """Each problem of the shard with its Python 3 submissions, read one CSV at a time."""
    root = Path(task.root)
    for csv_path in task.inputs:
        problem_id = Path(csv_path).stem
        info = _problem(task, problem_id)
        if problem_id not in task.problems:
            counts["problems/not_in_problem_list"] += 1
        if info.prompt is None and not config.require_statement:
            info.prompt = info.name or problem_id
        if info.prompt is None:
            counts["problems/no_statement"] += 1
        yield info, list(read_submissions(root, Path(csv_path), counts, task.source_name))
