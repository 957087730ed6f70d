"""Course exercises: the file format, the per-student values, and loading one.

An exercise is one YAML file (docs/course.md): an id, a title, a section, the
starting lab, the tasks (text, points, hints, and the checks that grade
them, or an expected answer), the reference solution, typical mistakes and
notes for the teacher. Everything except ``params`` is a Jinja2 template
rendered with the student's values, so two students get different
addresses, VLAN ids, ports or secrets, and one student always the same.

Loading validates the whole file like a lab file: every problem names the
exercise file, its line and the field (exit 2), and nothing is built.
Pure: no kernel, no root.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from typing import Any, Optional, Union

import jinja2
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from vnetlab.errors import BadInput
from vnetlab.model.errors import LabFileError, Problem
from vnetlab.model.loader import validate_into
from vnetlab.compile.runtime import link_of
from vnetlab.model.schema import CableStep, LabSpec, TaskCheck
from vnetlab.model.validate import semantic_problems
from vnetlab.model.yamltree import MAX_FILE_BYTES, YamlTree, size_problem
from vnetlab.names import instance_name, student_name

BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exercises")
TASK_ID = re.compile(r"[a-z][a-z0-9-]{0,31}")


class ExerciseError(LabFileError):
    """An exercise file with problems (each with file:line and field); nothing was built (exit 2)."""


class UnknownExercise(BadInput, LookupError):
    """No built-in exercise has this id, and it is not a file (exit 2)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Param(_Strict):
    """One seeded value: a whole number in a range, a pick from a list, a
    sample of distinct numbers, or a random secret."""

    int_: Optional[tuple[int, int]] = Field(default=None, alias="int")
    choice: Optional[list[Union[str, int]]] = None
    sample: Optional[tuple[int, int, int]] = None  # [low, high, how many] -> distinct numbers, in order drawn
    secret: Optional[int] = Field(default=None, ge=4, le=64)  # that many lowercase hex digits

    @model_validator(mode="after")
    def _one(self) -> "Param":
        given = [k for k in ("int_", "choice", "sample", "secret") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a parameter is exactly one of int: [LOW, HIGH], choice: [A, B, ...], "
                             "sample: [LOW, HIGH, COUNT] or secret: LENGTH")
        low_high = self.int_ or (self.sample[:2] if self.sample else None)
        if low_high is not None and low_high[0] > low_high[1]:
            raise ValueError(f"the range {list(low_high)} is empty — write [LOW, HIGH] with LOW <= HIGH")
        if self.sample is not None and self.sample[2] > self.sample[1] - self.sample[0] + 1:
            raise ValueError(f"cannot draw {self.sample[2]} distinct numbers from {list(self.sample[:2])}")
        if self.choice is not None and not self.choice:
            raise ValueError("choice: needs at least one value")
        return self

    def draw(self, rng: random.Random) -> Any:
        if self.int_ is not None:
            return rng.randint(*self.int_)
        if self.choice is not None:
            return rng.choice(self.choice)
        if self.sample is not None:
            low, high, count = self.sample
            return rng.sample(range(low, high + 1), count)
        return "".join(rng.choice("0123456789abcdef") for _ in range(self.secret or 0))


class Step(_Strict):
    """One step of a solution or a mistake: a command run inside a node
    (an argument list, or one line split like a shell would split it but
    never given to a shell), optionally fed ``stdin``; or an answer given."""

    node: Optional[str] = None
    run: Optional[Union[str, list[str]]] = None
    stdin: Optional[str] = None
    answer: Optional[str] = None  # a task id
    value: Optional[Union[str, int]] = None

    @model_validator(mode="after")
    def _shape(self) -> "Step":
        if (self.run is None) == (self.answer is None):
            raise ValueError("a step is either {node: NODE, run: COMMAND} or {answer: TASK, value: VALUE}")
        if self.run is not None and self.node is None:
            raise ValueError("a command step needs node: (the node it runs in)")
        if self.answer is not None and self.value is None:
            raise ValueError("an answer step needs value:")
        return self

    def argv(self) -> list[str]:
        """The command as an argument list."""
        import shlex

        if isinstance(self.run, list):
            return list(self.run)
        return shlex.split(self.run or "")


class Task(_Strict):
    """One graded task: checks that must all pass, or a value to answer."""

    id: str
    title: str
    text: str = ""
    points: int = Field(default=1, ge=0, le=1000)
    hints: list[str] = Field(default_factory=list)
    checks: list[TaskCheck] = Field(default_factory=list)
    answer: Optional[Union[str, int, list[Union[str, int]]]] = None  # accepted value(s)

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not TASK_ID.fullmatch(value):
            raise ValueError(f"task id {value!r} is not allowed — use lowercase letters, digits and '-', "
                             "e.g. forwarding")
        return value

    @model_validator(mode="after")
    def _graded_somehow(self) -> "Task":
        if bool(self.checks) == (self.answer is not None):
            raise ValueError("a task has either checks: (graded from the lab) or answer: (a value the student "
                             "gives with 'vnetlab course answer'), not both and not neither")
        return self

    def accepted(self) -> list[str]:
        """The accepted answers, normalised."""
        values = self.answer if isinstance(self.answer, list) else [self.answer]
        return [normalise_answer(v) for v in values if v is not None]


class Mistake(_Strict):
    """A typical wrong answer: what the student does, the points it earns and
    (a regular expression of) the feedback it gets — for tests and teachers."""

    name: str
    steps: list[Step]
    points: int = Field(ge=0)
    feedback: Optional[str] = None


class Exercise(_Strict):
    """A whole exercise file, rendered for one student."""

    id: str
    title: str
    section: str
    summary: str = ""
    order: float = 0  # where it comes in `course list` (sections in course order)
    params: dict[str, Param] = Field(default_factory=dict)
    intro: str = ""
    lab: dict[str, Any]
    tasks: list[Task]
    solution: list[Step] = Field(default_factory=list)
    mistakes: list[Mistake] = Field(default_factory=list)
    starts_with: int = Field(default=0, ge=0)  # points the starting lab scores before the student does anything
    notes: str = ""

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not TASK_ID.fullmatch(value):
            raise ValueError(f"exercise id {value!r} is not allowed — use lowercase letters, digits and '-'")
        return value

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, value: list[Task]) -> list[Task]:
        if not value:
            raise ValueError("an exercise needs at least one task")
        seen = set()
        for task in value:
            if task.id in seen:
                raise ValueError(f"two tasks have the id {task.id!r}")
            seen.add(task.id)
        return value

    @property
    def total(self) -> int:
        """The points of every task."""
        return sum(task.points for task in self.tasks)

    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise UnknownExercise(f"exercise {self.id} has no task {task_id!r} (tasks: "
                              f"{', '.join(t.id for t in self.tasks)})")


class Rendered:
    """An exercise made concrete for one student: the values, the exercise
    (templates filled in) and the starting lab, named for the student."""

    def __init__(self, path: str, student: str, values: dict[str, Any], exercise: Exercise, spec: LabSpec):
        self.path = path
        self.student = student
        self.values = values
        self.exercise = exercise
        self.spec = spec

    @property
    def lab_name(self) -> str:
        return self.spec.lab


def normalise_answer(value: object) -> str:
    """An answer as compared: trimmed, lower case, inner whitespace collapsed."""
    return " ".join(str(value).split()).lower()


def builtin_paths() -> list[str]:
    """The built-in exercise files."""
    if not os.path.isdir(BUILTIN_DIR):
        return []
    return sorted(os.path.join(BUILTIN_DIR, f) for f in os.listdir(BUILTIN_DIR) if f.endswith(".yaml"))


def find(ref: str) -> str:
    """The exercise file for ``ref``: a path to a file, or a built-in exercise id.

    Raises:
        UnknownExercise: neither.
    """
    if ref.endswith((".yaml", ".yml")) or os.sep in ref:
        if not os.path.isfile(ref):
            raise UnknownExercise(f"no exercise file {ref}")
        return os.path.abspath(ref)
    if TASK_ID.fullmatch(ref):
        path = os.path.join(BUILTIN_DIR, f"{ref}.yaml")
        if os.path.isfile(path):
            return path
    known = ", ".join(os.path.basename(p)[:-5] for p in builtin_paths())
    raise UnknownExercise(f"no built-in exercise {ref!r} — the exercises are: {known} (or give a file path)")


def seeded_values(exercise_id: str, student: str, params: dict[str, Param]) -> dict[str, Any]:
    """The student's values: the same student always gets the same ones,
    two students almost always different ones."""
    digest = hashlib.sha256(f"vnetlab-course:{exercise_id}:{student}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))
    return {name: param.draw(rng) for name, param in params.items()}


def load(ref: str, student: str) -> Rendered:
    """Loads, renders and validates an exercise for ``student``.

    Raises:
        UnknownExercise: no such exercise.
        UnsafeName: the student name is not allowed.
        ExerciseError: the file has problems (all of them, with lines).
        OSError: the file cannot be read.
    """
    path = find(ref)
    student_name(student)
    with open(path, "rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ExerciseError([size_problem(path, len(data), exact=False)])
    text = data.decode("utf-8", "surrogateescape")
    raw_id, params = _read_params(text, path)
    values = dict(seeded_values(raw_id, student, params), student=student)
    rendered_text = _render(text, path, values)
    tree = YamlTree(path)
    parsed = tree.parse(rendered_text)
    if parsed is None:
        raise ExerciseError(tree.problems)
    exercise = _validate_exercise(tree, parsed)
    spec = None
    lab_data = parsed.get("lab")
    if isinstance(lab_data, dict):
        base = lab_data.get("lab")
        try:
            lab_data = dict(lab_data, lab=instance_name(base, student))
        except BadInput as exc:
            tree.report(("lab", "lab"), f"{exc} (a course lab's name must leave room for _{student})")
        else:
            spec = validate_into(tree, lab_data, ("lab",))
    if exercise is not None and spec is not None:
        _check_task_checks(tree, exercise, spec)
    if any(not p.warning for p in tree.problems):
        raise ExerciseError(sorted((p for p in tree.problems if not p.warning), key=lambda p: p.line))
    assert exercise is not None and spec is not None
    return Rendered(path, student, values, exercise, spec)


def _read_params(text: str, path: str) -> tuple[str, dict[str, Param]]:
    """The exercise's id and ``params``, read before rendering (they are not templated)."""
    block: list[str] = []
    exercise_id = ""
    start = 0
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if line.startswith("id:"):
            exercise_id = line[3:].split("#")[0].strip().strip("\"'")
        if line.startswith("params:"):
            start = number
            block = [line]
            for following in lines[number + 1:]:
                if following and not following[0].isspace() and not following.startswith("#"):
                    break
                block.append(following)
    if not TASK_ID.fullmatch(exercise_id):
        raise ExerciseError([Problem(path, 1, "id", "the exercise needs an id: line at the top, e.g. id: routing "
                                     "(lowercase letters, digits and '-')")])
    if not block:
        return exercise_id, {}
    try:
        raw = yaml.safe_load("\n".join(block)) or {}
        params = TypeAdapter(dict[str, Param]).validate_python(raw.get("params") or {})
    except yaml.YAMLError as exc:
        raise ExerciseError([Problem(path, start + 1, "params", f"cannot read params: {exc}")]) from None
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in ("params", *error["loc"]))
            problems.append(Problem(path, start + 1, where, error["msg"].removeprefix("Value error, ")))
        raise ExerciseError(problems) from None
    for name in params:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ExerciseError([Problem(path, start + 1, f"params.{name}",
                                         "a parameter name is lowercase letters, digits and '_', e.g. vlan_id")])
    return exercise_id, params


def _render(text: str, path: str, values: dict[str, Any]) -> str:
    """The file with every ``{{ ... }}`` filled in (undefined names are errors)."""
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                     autoescape=False)
    try:
        return environment.from_string(text).render(**values)
    except jinja2.TemplateSyntaxError as exc:
        raise ExerciseError([Problem(path, exc.lineno or 1, "template", f"template error: {exc.message}")]) from None
    except jinja2.UndefinedError as exc:
        line = _line_of_undefined(text, str(exc))
        raise ExerciseError([Problem(path, line, "template", f"{exc} — define it under params: or fix the "
                                     "name")]) from None


def _line_of_undefined(text: str, message: str) -> int:
    match = re.search(r"'(\w+)' is undefined", message)
    if match:
        for number, line in enumerate(text.splitlines(), start=1):
            if re.search(r"\{\{[^}]*\b" + re.escape(match.group(1)) + r"\b", line):
                return number
    return 1


def _validate_exercise(tree: YamlTree, data: dict) -> Optional[Exercise]:
    try:
        return Exercise.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part in _UNION_TAGS))
            if loc[:1] == ("lab",) and len(loc) > 1:
                continue  # the lab itself is validated as a lab file, with better messages
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"unknown key {loc[-1]!r}"
            elif error["type"] == "missing":
                message = f"missing required key {loc[-1]!r}"
            tree.report(loc, message, at_key=error["type"] == "extra_forbidden")
        return None


_UNION_TAGS = {"probe", "state", "reboot", "cable", "str", "int", "list[union[str,int]]", "list[str]"}


def is_step(check: Any) -> bool:
    """Whether a task's check is a step the grader takes (a reboot, a cable cut or replug), not a check."""
    return getattr(check, "reboot", None) is not None or isinstance(check, CableStep)


def _check_task_checks(tree: YamlTree, exercise: Exercise, spec: LabSpec) -> None:
    """The tasks' checks obey the rules of a lab file's checks (nodes exist,
    targets resolve), reported at the task's own lines."""
    for task_index, task in enumerate(exercise.tasks):
        gradable = [(n, c) for n, c in enumerate(task.checks) if not is_step(c)]
        for number, check in enumerate(task.checks):
            reboot = getattr(check, "reboot", None)
            if reboot is not None and reboot not in spec.nodes:
                tree.report(("tasks", task_index, "checks", number, "reboot"),
                            f"{reboot!r} is not a node of the lab (nodes: {', '.join(spec.nodes)})")
            if isinstance(check, CableStep) and link_of(spec, check.end) is None:
                tree.report(("tasks", task_index, "checks", number, "cut" if check.cut else "replug"),
                            f"{check.end!r} is not an end of one of the lab's links — write NODE:IF of a link")
        if not gradable:
            continue
        probe = spec.model_copy(update={"checks": [c for _, c in gradable]})
        for path, message in semantic_problems(probe):
            if path[:1] == ("checks",) and len(path) > 1 and isinstance(path[1], int):
                original = gradable[path[1]][0]
                tree.report(("tasks", task_index, "checks", original, *path[2:]), message)
