"""Redis (ElastiCache): area and domain caches, circuit-breaker state."""

from __future__ import annotations

from typing import Any

from infra.template.common import ref, sub


def resources() -> dict[str, Any]:
    return {
        "CacheSubnetGroup": {
            "Type": "AWS::ElastiCache::SubnetGroup",
            "Properties": {"Description": "AME Redis", "SubnetIds": ref("PrivateSubnetIds")},
        },
        "Cache": {
            "Type": "AWS::ElastiCache::ReplicationGroup",
            "Properties": {
                "ReplicationGroupDescription": sub("AME ${Stage} cache (areas, domains, breaker state)"),
                "Engine": "redis",
                "EngineVersion": "7.1",
                "CacheNodeType": ref("CacheNodeType"),
                "NumCacheClusters": 2,
                "AutomaticFailoverEnabled": True,
                "MultiAZEnabled": True,
                "AtRestEncryptionEnabled": True,
                "TransitEncryptionEnabled": True,
                "CacheSubnetGroupName": ref("CacheSubnetGroup"),
                "SecurityGroupIds": [ref("CacheSecurityGroup")],
            },
        },
    }
