"""Read template.yaml: which handler gets which event, so the local runtime never repeats it.

template.yaml is the single description of the wiring (architecture principle 6). This module
turns it into plain dataclasses: the functions (handler, memory, timeout, environment) with
their S3, ScheduleV2/Schedule and Api events, and the DynamoDB tables. CloudFormation's
short-form tags (!Ref, !Sub, !GetAtt, ...) are parsed into small objects rather than
rejected, and resolved to local names where that makes sense.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from strongroom.config import Settings, environment, settings
from strongroom.domain.errors import StrongroomError

TEMPLATE_ENV = "STRONGROOM_TEMPLATE"

# Bucket resources of the template, and which local bucket each one is. An S3 event on a
# bucket missing here can't be routed locally; add it here when the template grows one.
LOCAL_BUCKETS: dict[str, Callable[[Settings], str]] = {
    "IngestBucket": lambda s: s.ingest_bucket,
    "PublicBucket": lambda s: s.public_bucket,
}

# Table resources and their local names; other tables get "<prefix>-<name without Table>".
LOCAL_TABLES: dict[str, Callable[[Settings], str]] = {
    "CatalogTable": lambda s: s.catalog_table,
}


class TemplateError(StrongroomError, ValueError):
    """template.yaml says something the local runtime can't follow; the message says what."""


# --- CloudFormation intrinsic functions -------------------------------------------------


@dataclass(frozen=True)
class Intrinsic:
    """One CloudFormation intrinsic function (!Ref X, !Sub "...", ...), kept unevaluated."""

    name: str  # "Ref", "Fn::Sub", "Fn::GetAtt", ...
    value: Any


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that understands CloudFormation's short-form tags."""


def _construct(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Intrinsic:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt" and isinstance(value, str):
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            raise TemplateError(f"!{name} at {node.start_mark} takes a scalar, a list or a mapping, not {node.tag}")
        return Intrinsic(name, value)

    return construct


for _tag in (
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "And",
    "Equals",
    "If",
    "Not",
    "Or",
    "ToJsonString",
    "Length",
):
    _CfnLoader.add_constructor(f"!{_tag}", _construct(f"Fn::{_tag}"))
_CfnLoader.add_constructor("!Ref", _construct("Ref"))
_CfnLoader.add_constructor("!Condition", _construct("Condition"))


def _intrinsic_of(value: Any) -> Intrinsic | None:
    """The long form ({"Ref": X}, {"Fn::Sub": ...}) as an Intrinsic too."""
    if isinstance(value, Intrinsic):
        return value
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        if key == "Ref" or key.startswith("Fn::"):
            return Intrinsic(key, inner)
    return None


# --- what the template describes --------------------------------------------------------


@dataclass(frozen=True)
class S3Event:
    """An S3 notification: objects created in `bucket` under `prefix` ending in `suffix`."""

    name: str
    bucket_logical_id: str
    bucket: str  # the local bucket name
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""


@dataclass(frozen=True)
class ScheduleEvent:
    """A ScheduleV2 (EventBridge Scheduler) or Schedule (EventBridge rule) event."""

    name: str
    expression: str  # rate(...) or cron(...)
    input: str | None = None  # the JSON text the scheduler delivers, when the template sets one
    enabled: bool = True
    kind: str = "ScheduleV2"


@dataclass(frozen=True)
class ApiEvent:
    """An API Gateway route handled by the function."""

    name: str
    path: str
    method: str


Event = S3Event | ScheduleEvent | ApiEvent


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    handler: str  # "package.module.function"
    memory_mb: int = 128
    timeout_s: int = 3
    environment: dict[str, str] = field(default_factory=dict)
    events: tuple[Event, ...] = ()

    def events_of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass(frozen=True)
class TableSpec:
    logical_id: str
    name: str
    key_schema: list[dict]
    attribute_definitions: list[dict]
    global_secondary_indexes: list[dict] = field(default_factory=list)
    local_secondary_indexes: list[dict] = field(default_factory=list)
    ttl_attribute: str | None = None


@dataclass(frozen=True)
class Template:
    paths: tuple[Path, ...]
    functions: tuple[FunctionSpec, ...]
    tables: tuple[TableSpec, ...]

    def function(self, logical_id: str) -> FunctionSpec:
        for f in self.functions:
            if f.logical_id == logical_id:
                return f
        raise KeyError(
            f"no function {logical_id!r} in {', '.join(map(str, self.paths))}; "
            f"functions are {[f.logical_id for f in self.functions]}"
        )


# --- reading ----------------------------------------------------------------------------


def default_template_paths() -> list[Path]:
    """STRONGROOM_TEMPLATE (paths joined by os.pathsep, later files add to or override
    earlier ones), else the repository's template.yaml, else ./template.yaml."""
    override = environment().local_template
    if override:
        return [Path(p) for p in override.split(os.pathsep) if p]
    repo = Path(__file__).resolve().parents[3] / "template.yaml"
    for candidate in (repo, Path.cwd() / "template.yaml"):
        if candidate.exists():
            return [candidate]
    raise TemplateError(
        f"template.yaml not found (looked at {repo} and ./template.yaml): "
        f"run from the repository or set {TEMPLATE_ENV}=/path/to/template.yaml"
    )


def parse_yaml(text: str) -> dict:
    """template.yaml as plain data, with intrinsic functions as Intrinsic objects."""
    return yaml.load(text, Loader=_CfnLoader) or {}


def load(paths: list[Path] | Path | None = None, cfg: Settings | None = None) -> Template:
    """Read the template(s) and return its functions and tables with local names resolved."""
    cfg = cfg or settings()
    if paths is None:
        paths = default_template_paths()
    elif isinstance(paths, (str, Path)):
        paths = [Path(paths)]
    doc: dict = {"Parameters": {}, "Globals": {}, "Resources": {}}
    for path in paths:
        try:
            part = parse_yaml(Path(path).read_text("utf-8"))
        except FileNotFoundError:
            raise TemplateError(f"template {path} does not exist; check {TEMPLATE_ENV}") from None
        except yaml.YAMLError as e:
            raise TemplateError(f"{path} is not valid YAML: {e}") from None
        for section in ("Parameters", "Resources"):
            doc[section].update(part.get(section) or {})
        for kind, values in (part.get("Globals") or {}).items():
            doc["Globals"].setdefault(kind, {}).update(values or {})
    return _Reader(doc, cfg).template(tuple(Path(p) for p in paths))


class _Reader:
    def __init__(self, doc: dict, cfg: Settings):
        self.doc = doc
        self.cfg = cfg
        self.resources: dict = doc["Resources"]
        self.params: dict = doc["Parameters"]

    def template(self, paths: tuple[Path, ...]) -> Template:
        functions, tables = [], []
        for logical_id, resource in self.resources.items():
            kind = (resource or {}).get("Type")
            if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
                functions.append(self.function(logical_id, resource.get("Properties") or {}))
            elif kind == "AWS::DynamoDB::Table":
                tables.append(self.table(logical_id, resource.get("Properties") or {}))
        return Template(paths, tuple(functions), tuple(tables))

    # Functions

    def function(self, logical_id: str, props: dict) -> FunctionSpec:
        glob = self.doc["Globals"].get("Function") or {}
        handler = props.get("Handler", glob.get("Handler"))
        if not isinstance(handler, str) or "." not in handler:
            raise TemplateError(f"{logical_id}: Handler must be 'module.function', got {handler!r}")
        variables = dict((glob.get("Environment") or {}).get("Variables") or {})
        variables.update((props.get("Environment") or {}).get("Variables") or {})
        events = tuple(self.event(logical_id, name, spec) for name, spec in (props.get("Events") or {}).items())
        return FunctionSpec(
            logical_id=logical_id,
            handler=handler,
            memory_mb=int(props.get("MemorySize", glob.get("MemorySize", 128))),
            timeout_s=int(props.get("Timeout", glob.get("Timeout", 3))),
            environment=self.environment(variables),
            events=tuple(e for e in events if e is not None),
        )

    def environment(self, variables: dict) -> dict[str, str]:
        """The variables as they are locally. STRONGROOM_* names are left out on purpose:
        on AWS they carry the stack's account and region; locally strongroom.config's
        defaults are the names the local archive uses."""
        env = {}
        for name, value in variables.items():
            if name.startswith("STRONGROOM_"):
                continue
            resolved = self.resolve(value)
            if resolved is not None:
                env[name] = str(resolved)
        return env

    def event(self, fn: str, name: str, spec: dict) -> Event | None:
        kind = spec.get("Type")
        props = spec.get("Properties") or {}
        if kind == "S3":
            return self.s3_event(fn, name, props)
        if kind in ("ScheduleV2", "Schedule"):
            expression = props.get("ScheduleExpression") or props.get("Schedule")
            if not isinstance(expression, str):
                raise TemplateError(f"{fn}.{name}: {kind} needs a literal ScheduleExpression")
            state = props.get("State", "ENABLED")
            enabled = props.get("Enabled", state != "DISABLED")
            raw_input = props.get("Input")
            return ScheduleEvent(
                name, expression.strip(), raw_input if isinstance(raw_input, str) else None, bool(enabled), kind
            )
        if kind in ("Api", "HttpApi"):
            return ApiEvent(name, str(props.get("Path", "/")), str(props.get("Method", "ANY")).upper())
        return None  # other event sources have no local counterpart yet

    def s3_event(self, fn: str, name: str, props: dict) -> S3Event:
        ref = _intrinsic_of(props.get("Bucket"))
        if ref is None or ref.name != "Ref":
            raise TemplateError(f"{fn}.{name}: an S3 event's Bucket must be !Ref <bucket resource>")
        logical = ref.value
        if logical not in LOCAL_BUCKETS:
            raise TemplateError(
                f"{fn}.{name} listens to bucket {logical}, which the local runtime doesn't know: "
                f"add it to LOCAL_BUCKETS in strongroom/local/template.py"
            )
        events = props.get("Events") or []
        events = (events,) if isinstance(events, str) else tuple(events)
        prefix = suffix = ""
        rules = (((props.get("Filter") or {}).get("S3Key") or {}).get("Rules")) or []
        for rule in rules:
            if str(rule.get("Name", "")).lower() == "prefix":
                prefix = str(rule.get("Value", ""))
            elif str(rule.get("Name", "")).lower() == "suffix":
                suffix = str(rule.get("Value", ""))
        return S3Event(name, logical, LOCAL_BUCKETS[logical](self.cfg), events, prefix, suffix)

    # Tables

    def table(self, logical_id: str, props: dict) -> TableSpec:
        if logical_id in LOCAL_TABLES:
            name = LOCAL_TABLES[logical_id](self.cfg)
        else:
            stem = logical_id.removesuffix("Table") or logical_id
            name = f"{self.cfg.prefix}-{re.sub(r'(?<!^)(?=[A-Z])', '-', stem).lower()}"
        if not props.get("KeySchema"):
            raise TemplateError(f"{logical_id}: a table needs a KeySchema")
        ttl = props.get("TimeToLiveSpecification") or {}
        return TableSpec(
            logical_id=logical_id,
            name=name,
            key_schema=list(props["KeySchema"]),
            attribute_definitions=list(props.get("AttributeDefinitions") or []),
            global_secondary_indexes=list(props.get("GlobalSecondaryIndexes") or []),
            local_secondary_indexes=list(props.get("LocalSecondaryIndexes") or []),
            ttl_attribute=ttl.get("AttributeName") if ttl.get("Enabled") else None,
        )

    # Values

    def resolve(self, value: Any) -> Any:
        """A plain value for a template value, or None when it only exists on AWS."""
        fn = _intrinsic_of(value)
        if fn is None:
            return value
        if fn.name == "Ref":
            return self.ref(fn.value)
        if fn.name == "Fn::Sub":
            text, extra = (fn.value, {}) if isinstance(fn.value, str) else (fn.value[0], fn.value[1])
            missing = []

            def sub(m: re.Match) -> str:
                key = m.group(1)
                got = self.resolve(extra[key]) if key in extra else self.ref(key)
                if got is None:
                    missing.append(key)
                    return ""
                return str(got)

            out = re.sub(r"\$\{([^}!]+)\}", sub, text)
            return None if missing else out
        if fn.name == "Fn::Join":
            sep, parts = fn.value
            parts = [self.resolve(p) for p in parts]
            return None if any(p is None for p in parts) else str(sep).join(map(str, parts))
        return None

    def ref(self, name: str) -> Any:
        if name in self.params:
            return (self.params[name] or {}).get("Default")
        if name in LOCAL_BUCKETS:
            return LOCAL_BUCKETS[name](self.cfg)
        if name in LOCAL_TABLES:
            return LOCAL_TABLES[name](self.cfg)
        if name == "AWS::Region":
            return self.cfg.nodes[0].region
        return None
