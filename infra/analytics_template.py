"""The analytics part of the merge template: Glue catalogue, Athena workgroup and named queries, the export.

Glue tables are built from chalicelib/domain/analytics.py's column lists, the ones the exporter writes, so
their types equal the Parquet types (a test reads a written file and compares). Partitions are found by
partition projection on `dt` (no crawler, no MSCK REPAIR). One named query per file in analytics/queries/.
QuickSight needs an account subscription: its Athena data source is created only when
QuickSightPrincipalArn is set (docs/analytics.md has the manual steps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chalicelib.domain.analytics import DIMENSIONS, FACTS, PARTITION_COLUMN

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "analytics" / "queries"
EXPORT_FUNCTION = "ExportAnalytics"
PANDAS_LAYER_ACCOUNT = "336392948345"
ANALYTICS_PREFIX = "analytics"
RESULTS_PREFIX = "athena-results"
PROJECTION_START = "2026-01-01"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
MIN_BYTES_SCANNED_CUTOFF = 10_000_000  # Athena refuses less
# Athena writes every query's answer (and its metadata) under athena-results/ and never deletes them.
RESULTS_EXPIRATION_DAYS = 7


def _sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def _ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def glue_table_name(table: str) -> str:
    return table


def logical_table_id(table: str) -> str:
    return "Glue" + "".join(part.title() for part in table.split("_")) + "Table"


def query_logical_id(name: str) -> str:
    return "AthenaQuery" + "".join(part.title() for part in name.split("_"))


def parameters(stage: str) -> dict[str, Any]:
    return {
        "AnalyticsDatabaseName": {
            "Type": "String",
            "Default": f"ame_{stage.replace('-', '_')}_analytics",
            "AllowedPattern": "^[a-z][a-z0-9_]{0,254}$",
            "Description": "Glue database of the analytics tables",
        },
        "AnalyticsLayerVersion": {
            "Type": "Number",
            "Default": 20,
            "MinValue": 1,
            "Description": "Version of the AWS SDK for pandas layer (AWSSDKPandas-Python311) "
            "in this region; gives export_analytics its pyarrow",
        },
        "AthenaBytesScannedCutoff": {
            "Type": "Number",
            "Default": 10_000_000_000,
            "MinValue": MIN_BYTES_SCANNED_CUTOFF,
            "Description": "Athena stops a query of the analytics workgroup past this many bytes scanned",
        },
        "AthenaResultsExpirationDays": {
            "Type": "Number",
            "Default": RESULTS_EXPIRATION_DAYS,
            "MinValue": 1,
            "Description": f"Days the bucket keeps Athena's query results under {RESULTS_PREFIX}/ "
            "(a lifecycle rule deletes them; the named queries can always be run again)",
        },
        "QuickSightPrincipalArn": {
            "Type": "String",
            "Default": "",
            "Description": "QuickSight user or group ARN that owns the Athena data source "
            "(empty: no QuickSight resources; needs a subscription)",
        },
    }


def conditions() -> dict[str, Any]:
    return {"HasQuickSight": {"Fn::Not": [{"Fn::Equals": [_ref("QuickSightPrincipalArn"), ""]}]}}


def _columns(columns: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Name": name, "Type": kind} for name, kind in columns]


def _location(bucket_name: str, table: str) -> dict[str, Any]:
    return _sub(f"s3://{bucket_name}/{ANALYTICS_PREFIX}/{table}/")


def _table(bucket_name: str, table: str, columns: tuple[tuple[str, str], ...], partitioned: bool) -> dict[str, Any]:
    storage = {
        "Columns": _columns(columns),
        "Location": _location(bucket_name, table),
        "InputFormat": PARQUET_INPUT,
        "OutputFormat": PARQUET_OUTPUT,
        "Compressed": True,
        "SerdeInfo": {"SerializationLibrary": PARQUET_SERDE},
    }
    params: dict[str, Any] = {"classification": "parquet", "parquet.compression": "SNAPPY"}
    table_input: dict[str, Any] = {
        "Name": glue_table_name(table),
        "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": storage,
        "Parameters": params,
    }
    if partitioned:
        table_input["PartitionKeys"] = [{"Name": PARTITION_COLUMN, "Type": "string"}]
        params.update(
            {
                "projection.enabled": "true",
                f"projection.{PARTITION_COLUMN}.type": "date",
                f"projection.{PARTITION_COLUMN}.format": "yyyy-MM-dd",
                f"projection.{PARTITION_COLUMN}.range": f"{PROJECTION_START},NOW",
                f"projection.{PARTITION_COLUMN}.interval": "1",
                f"projection.{PARTITION_COLUMN}.interval.unit": "DAYS",
                # ${!dt} is Fn::Sub's escape for a literal ${dt}, which Athena fills per partition.
                "storage.location.template": _sub(
                    f"s3://{bucket_name}/{ANALYTICS_PREFIX}/{table}/{PARTITION_COLUMN}=${{!{PARTITION_COLUMN}}}/"
                ),
            }
        )
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": _ref("AWS::AccountId"),
            "DatabaseName": _ref("AnalyticsDatabase"),
            "TableInput": table_input,
        },
    }


def named_queries() -> dict[str, str]:
    return {p.stem: p.read_text(encoding="utf-8") for p in sorted(QUERIES.glob("*.sql"))}


def _description(sql: str) -> str:
    first = next((line for line in sql.splitlines() if line.startswith("--")), "-- AME analytics")
    return first.lstrip("- ").strip()[:1024]


def resources(bucket_name: str, bucket_logical_id: str) -> dict[str, Any]:
    objects = f"arn:${{AWS::Partition}}:s3:::{bucket_name}"
    out: dict[str, Any] = {
        "AnalyticsDatabase": {
            "Type": "AWS::Glue::Database",
            "Properties": {
                "CatalogId": _ref("AWS::AccountId"),
                "DatabaseInput": {
                    "Name": _ref("AnalyticsDatabaseName"),
                    "Description": "AME star schema: fact_orders, fact_party_outcomes, dimensions",
                },
            },
        },
        "AnalyticsWorkGroup": {
            "Type": "AWS::Athena::WorkGroup",
            "Properties": {
                "Name": _sub("ame-${Stage}-analytics"),
                "Description": "AME analytics: engine v3, encrypted results, bytes-scanned cutoff",
                "State": "ENABLED",
                "RecursiveDeleteOption": True,
                "WorkGroupConfiguration": {
                    "EnforceWorkGroupConfiguration": True,
                    "PublishCloudWatchMetricsEnabled": True,
                    "BytesScannedCutoffPerQuery": _ref("AthenaBytesScannedCutoff"),
                    "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
                    "ResultConfiguration": {
                        "OutputLocation": _sub(f"s3://{bucket_name}/{RESULTS_PREFIX}/"),
                        "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"},
                    },
                },
            },
        },
        "AnalyticsHmacSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Properties": {
                "Name": _sub("ame/${Stage}/analytics/requester-hmac"),
                "Description": "Key of the HMAC that replaces requester documents in analytics",
                "GenerateSecretString": {"PasswordLength": 64, "ExcludePunctuation": True},
            },
        },
        "ExportAnalyticsDataPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "PolicyName": "export-analytics-data",
                "Roles": [_ref(f"{EXPORT_FUNCTION}Role")],
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "AnalyticsFiles",
                            "Effect": "Allow",
                            "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"],
                            "Resource": _sub(f"{objects}/{ANALYTICS_PREFIX}/*"),
                        },
                        {
                            "Sid": "ListAnalyticsFiles",
                            "Effect": "Allow",
                            "Action": ["s3:ListBucket"],
                            "Resource": _sub(objects),
                            "Condition": {"StringLike": {"s3:prefix": [f"{ANALYTICS_PREFIX}/*"]}},
                        },
                        {
                            "Sid": "RequesterHmacKey",
                            "Effect": "Allow",
                            "Action": ["secretsmanager:GetSecretValue"],
                            "Resource": _ref("AnalyticsHmacSecret"),
                        },
                    ],
                },
            },
        },
        EXPORT_FUNCTION: {
            "Properties": {
                "MemorySize": 1024,
                "Timeout": 900,
                "Layers": [
                    _sub(
                        "arn:${AWS::Partition}:lambda:${AWS::Region}:"
                        + PANDAS_LAYER_ACCOUNT
                        + ":layer:AWSSDKPandas-Python311:${AnalyticsLayerVersion}"
                    )
                ],
                "Environment": {
                    "Variables": {
                        "AME_ANALYTICS_PREFIX": ANALYTICS_PREFIX,
                        "AME_ANALYTICS_HMAC_SECRET_REF": _ref("AnalyticsHmacSecret"),
                    }
                },
            }
        },
        "AnalyticsQuickSightDataSource": {
            "Type": "AWS::QuickSight::DataSource",
            "Condition": "HasQuickSight",
            "Properties": {
                "AwsAccountId": _ref("AWS::AccountId"),
                "DataSourceId": _sub("ame-${Stage}-analytics"),
                "Name": _sub("AME ${Stage} analytics"),
                "Type": "ATHENA",
                "DataSourceParameters": {"AthenaParameters": {"WorkGroup": _ref("AnalyticsWorkGroup")}},
                "Permissions": [
                    {
                        "Principal": _ref("QuickSightPrincipalArn"),
                        "Actions": [
                            "quicksight:DescribeDataSource",
                            "quicksight:DescribeDataSourcePermissions",
                            "quicksight:PassDataSource",
                            "quicksight:UpdateDataSource",
                            "quicksight:DeleteDataSource",
                            "quicksight:UpdateDataSourcePermissions",
                        ],
                    }
                ],
            },
        },
    }
    for table, columns in FACTS.items():
        out[logical_table_id(table)] = _table(bucket_name, table, columns, partitioned=True)
    for table, columns in DIMENSIONS.items():
        out[logical_table_id(table)] = _table(bucket_name, table, columns, partitioned=False)
    for name, sql in named_queries().items():
        out[query_logical_id(name)] = {
            "Type": "AWS::Athena::NamedQuery",
            "Properties": {
                "Name": name,
                "Description": _description(sql),
                "Database": _ref("AnalyticsDatabaseName"),
                "QueryString": sql,
                "WorkGroup": _ref("AnalyticsWorkGroup"),
            },
        }
    return out


def lifecycle_rules() -> list[dict[str, Any]]:
    """Rules for the bucket that holds the analytics files: Athena's results expire (current versions after
    AthenaResultsExpirationDays, and, since the bucket is versioned, the versions left behind a day later)."""
    return [
        {
            "Id": "expire-athena-results",
            "Status": "Enabled",
            "Prefix": f"{RESULTS_PREFIX}/",
            "ExpirationInDays": _ref("AthenaResultsExpirationDays"),
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]


def outputs() -> dict[str, Any]:
    return {
        "AnalyticsDatabaseName": {"Value": _ref("AnalyticsDatabase")},
        "AnalyticsWorkGroupName": {"Value": _ref("AnalyticsWorkGroup")},
    }


def extend(template: dict[str, Any], stage: str, bucket_name: str, bucket_logical_id: str) -> dict[str, Any]:
    """Adds the analytics parameters, conditions, resources and outputs; merges into the export function."""
    for section, extra in (("Parameters", parameters(stage)), ("Conditions", conditions()), ("Outputs", outputs())):
        overlap = set(extra) & set(template.setdefault(section, {}))
        if overlap:
            raise ValueError(f"{section} defined twice: {sorted(overlap)}")
        template[section].update(extra)
    resources_ = template.setdefault("Resources", {})
    for logical_id, resource in resources(bucket_name, bucket_logical_id).items():
        if logical_id == EXPORT_FUNCTION:
            fn = resources_.setdefault(EXPORT_FUNCTION, {}).setdefault("Properties", {})
            env = fn.setdefault("Environment", {}).setdefault("Variables", {})
            env.update(resource["Properties"]["Environment"]["Variables"])
            fn.update({k: v for k, v in resource["Properties"].items() if k != "Environment"})
            continue
        if logical_id in resources_:
            raise ValueError(f"logical id defined twice: {logical_id}")
        resources_[logical_id] = resource
    if bucket_logical_id in resources_:  # the bucket's own rules stay; the analytics rules are added to them
        bucket = resources_[bucket_logical_id].setdefault("Properties", {})
        rules = bucket.setdefault("LifecycleConfiguration", {}).setdefault("Rules", [])
        ids = {rule["Id"] for rule in rules}
        rules.extend(rule for rule in lifecycle_rules() if rule["Id"] not in ids)
    return template
