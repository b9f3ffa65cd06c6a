"""Reading CloudFormation/SAM templates in tests: a YAML loader that understands the short tags."""

from __future__ import annotations

from pathlib import Path

import yaml


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns !Ref / !Sub / !GetAtt ... into their long JSON forms."""


def _short_tag(loader: yaml.Loader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_tag)


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


def create_catalog_table(client, name: str) -> None:
    """The catalog table as template.yaml declares it (keys and indexes), under another name:
    tests that make their own table cannot drift from the deployed one."""
    props = load(TEMPLATE)["Resources"]["CatalogTable"]["Properties"]
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        GlobalSecondaryIndexes=props.get("GlobalSecondaryIndexes", []),
    )
