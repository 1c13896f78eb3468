"""The document bucket (claim checks, large results), its TLS-only policy and optional replication."""

from __future__ import annotations

from typing import Any

from infra.template.common import BUCKET_NAME, assume, get_att, policy, ref, sub


def resources() -> dict[str, Any]:
    bucket_arn = sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME)
    objects_arn = sub("arn:${AWS::Partition}:s3:::" + BUCKET_NAME + "/*")
    return {
        "DocumentBucket": {
            "Type": "AWS::S3::Bucket",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": sub(BUCKET_NAME),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}
                    ]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "infrequent-access-after-30-days",
                            "Status": "Enabled",
                            "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 30}],
                        },
                        # Retention archive (docs/data-lifecycle.md): read rarely, kept for years; Glacier Instant
                        # Retrieval still answers `bin/ame archive show` at once, Deep Archive after a year needs a restore.
                        {
                            "Id": "archive-to-glacier",
                            "Status": "Enabled",
                            "Prefix": "archive/",
                            "Transitions": [
                                {"StorageClass": "GLACIER_IR", "TransitionInDays": 90},
                                {"StorageClass": "DEEP_ARCHIVE", "TransitionInDays": 365},
                            ],
                        },
                        # Claim-checked messages: kept past the 14-day DLQ retention so a replay still finds them.
                        {"Id": "expire-claim-checks", "Status": "Enabled", "Prefix": "claims/", "ExpirationInDays": 30},
                        {
                            "Id": "expire-old-versions",
                            "Status": "Enabled",
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        },
                    ]
                },
                "ReplicationConfiguration": {
                    "Fn::If": [
                        "ReplicatesBucket",
                        {
                            "Role": get_att("BucketReplicationRole", "Arn"),
                            "Rules": [
                                {
                                    "Id": "second-region",
                                    "Status": "Enabled",
                                    "Priority": 1,
                                    "Filter": {"Prefix": ""},
                                    "DeleteMarkerReplication": {"Status": "Enabled"},
                                    "Destination": {"Bucket": ref("ReplicaBucketArn")},
                                }
                            ],
                        },
                        ref("AWS::NoValue"),
                    ]
                },
            },
        },
        "DocumentBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("DocumentBucket"),
                "PolicyDocument": policy(
                    [
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, objects_arn],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ]
                ),
            },
        },
        "BucketReplicationRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "ReplicatesBucket",
            "Properties": {
                "AssumeRolePolicyDocument": assume("s3.amazonaws.com"),
                "Policies": [
                    {
                        "PolicyName": "replicate-documents",
                        "PolicyDocument": policy(
                            [
                                {
                                    "Effect": "Allow",
                                    "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                                    "Resource": bucket_arn,
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "s3:GetObjectVersionForReplication",
                                        "s3:GetObjectVersionAcl",
                                        "s3:GetObjectVersionTagging",
                                    ],
                                    "Resource": objects_arn,
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
                                    "Resource": sub("${ReplicaBucketArn}/*"),
                                },
                            ]
                        ),
                    }
                ],
            },
        },
    }
