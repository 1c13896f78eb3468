"""Aurora MySQL (Serverless v2, optionally global), its secret, and the RDS Proxy the functions connect to."""

from __future__ import annotations

import json
from typing import Any

from infra.template.common import assume, get_att, policy, ref, sub


def resources() -> dict[str, Any]:
    secret_arn = {"Fn::If": ["IsPrimary", ref("DatabaseSecret"), ref("ReplicaDatabaseSecretArn")]}
    primary_only = lambda value: {"Fn::If": ["IsPrimary", value, ref("AWS::NoValue")]}  # noqa: E731
    return {
        "DatabaseSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Condition": "IsPrimary",
            "Properties": {
                "Name": sub("ame/${Stage}/database"),
                "Description": "Aurora master user; read by RDS Proxy",
                "GenerateSecretString": {
                    "SecretStringTemplate": json.dumps({"username": "ame"}),
                    "GenerateStringKey": "password",
                    "PasswordLength": 32,
                    "ExcludePunctuation": True,
                },
                "ReplicaRegions": {
                    "Fn::If": ["HasSecondaryRegion", [{"Region": ref("SecondaryRegion")}], ref("AWS::NoValue")]
                },
            },
        },
        "CursorSecret": {
            "Type": "AWS::SecretsManager::Secret",
            "Condition": "IsPrimary",
            "Properties": {
                "Name": sub("ame/${Stage}/cursor"),
                "Description": "Signs search cursors (AME_CURSOR_SECRET)",
                "GenerateSecretString": {"PasswordLength": 48, "ExcludePunctuation": True},
                "ReplicaRegions": {
                    "Fn::If": ["HasSecondaryRegion", [{"Region": ref("SecondaryRegion")}], ref("AWS::NoValue")]
                },
            },
        },
        "DatabaseSubnetGroup": {
            "Type": "AWS::RDS::DBSubnetGroup",
            "Properties": {"DBSubnetGroupDescription": "AME Aurora", "SubnetIds": ref("PrivateSubnetIds")},
        },
        "DatabaseCluster": {
            "Type": "AWS::RDS::DBCluster",
            "DeletionPolicy": "Snapshot",
            "UpdateReplacePolicy": "Snapshot",
            "Properties": {
                "Engine": "aurora-mysql",
                "EngineVersion": ref("DatabaseEngineVersion"),
                "DatabaseName": primary_only(ref("DatabaseName")),
                "MasterUsername": primary_only(
                    sub("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:username}}")
                ),
                "MasterUserPassword": primary_only(
                    sub("{{resolve:secretsmanager:${DatabaseSecret}:SecretString:password}}")
                ),
                "GlobalClusterIdentifier": {
                    "Fn::If": ["IsSecondary", ref("GlobalClusterIdentifier"), ref("AWS::NoValue")]
                },
                "KmsKeyId": {"Fn::If": ["HasDatabaseKmsKey", ref("DatabaseKmsKeyId"), ref("AWS::NoValue")]},
                "StorageEncrypted": True,
                "BackupRetentionPeriod": ref("BackupRetentionDays"),
                "PreferredBackupWindow": "05:00-06:00",
                "CopyTagsToSnapshot": True,
                "DeletionProtection": True,
                "EnableCloudwatchLogsExports": ["error", "slowquery"],
                "ServerlessV2ScalingConfiguration": {
                    "MinCapacity": ref("DatabaseMinCapacity"),
                    "MaxCapacity": ref("DatabaseMaxCapacity"),
                },
                "DBSubnetGroupName": ref("DatabaseSubnetGroup"),
                "VpcSecurityGroupIds": [ref("DatabaseSecurityGroup")],
            },
        },
        **{
            name: {
                "Type": "AWS::RDS::DBInstance",
                "Properties": {
                    "Engine": "aurora-mysql",
                    "DBInstanceClass": "db.serverless",
                    "DBClusterIdentifier": ref("DatabaseCluster"),
                    "PubliclyAccessible": False,
                },
            }
            for name in ("DatabaseWriter", "DatabaseReplica")  # two AZs: failover inside the region
        },
        "GlobalDatabase": {
            "Type": "AWS::RDS::GlobalCluster",
            "Condition": "CreatesGlobalCluster",
            "Properties": {
                "GlobalClusterIdentifier": ref("GlobalClusterIdentifier"),
                "SourceDBClusterIdentifier": ref("DatabaseCluster"),
            },
        },
        "DatabaseSecretAttachment": {
            "Type": "AWS::SecretsManager::SecretTargetAttachment",
            "Condition": "IsPrimary",
            "Properties": {
                "SecretId": ref("DatabaseSecret"),
                "TargetId": ref("DatabaseCluster"),
                "TargetType": "AWS::RDS::DBCluster",
            },
        },
        "DatabaseProxyRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": assume("rds.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": "read-database-secret",
                        "PolicyDocument": policy(
                            [
                                {
                                    "Effect": "Allow",
                                    "Action": ["secretsmanager:GetSecretValue"],
                                    "Resource": secret_arn,
                                },
                            ]
                        ),
                    }
                ],
            },
        },
        # Lambda scales to hundreds of containers; the proxy pools them onto few database connections.
        "DatabaseProxy": {
            "Type": "AWS::RDS::DBProxy",
            "Properties": {
                "DBProxyName": sub("${AWS::StackName}-proxy"),
                "EngineFamily": "MYSQL",
                "Auth": [{"AuthScheme": "SECRETS", "SecretArn": secret_arn, "IAMAuth": "DISABLED"}],
                "RoleArn": get_att("DatabaseProxyRole", "Arn"),
                "RequireTLS": True,
                "IdleClientTimeout": 1800,
                "VpcSubnetIds": ref("PrivateSubnetIds"),
                "VpcSecurityGroupIds": [ref("ProxySecurityGroup")],
            },
        },
        "DatabaseProxyTargetGroup": {
            "Type": "AWS::RDS::DBProxyTargetGroup",
            "DependsOn": ["DatabaseWriter"],
            "Properties": {
                "DBProxyName": ref("DatabaseProxy"),
                "TargetGroupName": "default",
                "DBClusterIdentifiers": [ref("DatabaseCluster")],
                "ConnectionPoolConfigurationInfo": {
                    "MaxConnectionsPercent": 90,
                    "MaxIdleConnectionsPercent": 10,
                    "ConnectionBorrowTimeout": 5,
                },
            },
        },
    }


def database_secret() -> dict[str, Any]:
    """The database secret's ARN: this region's, or the primary's replica in a secondary region."""
    return {"Fn::If": ["IsPrimary", ref("DatabaseSecret"), ref("ReplicaDatabaseSecretArn")]}


def cursor_secret() -> dict[str, Any]:
    return {"Fn::If": ["IsPrimary", ref("CursorSecret"), sub("ame/${Stage}/cursor")]}


def cursor_secret_arn() -> dict[str, Any]:
    """The cursor secret as an IAM resource: by ARN (primary), or by name plus Secrets Manager's six-character
    suffix (secondary, where the function names the replica)."""
    return {
        "Fn::If": [
            "IsPrimary",
            ref("CursorSecret"),
            sub(
                "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:ame/${Stage}/cursor-??????"
            ),
        ]
    }


def database_url() -> dict[str, Any]:
    """AME_DATABASE_URL: the proxy endpoint, no credentials (the functions read them from the secret at run
    time, chalicelib/adapters/runtime_secrets.py), TLS checked against the CA bundle that requests ships
    (RDS Proxy presents an Amazon Trust Services certificate)."""
    return sub(
        "mysql+pymysql://${DatabaseProxy.Endpoint}:3306/${DatabaseName}"
        "?charset=utf8mb4&ssl_ca=/var/task/certifi/cacert.pem"
    )
