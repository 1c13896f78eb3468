"""Security groups: functions go out only; the proxy, the database and the cache let in only their callers."""

from __future__ import annotations

from typing import Any

from infra.template.common import ref


def resources() -> dict[str, Any]:
    def group(description: str, port: int | None = None, source: str | None = None) -> dict[str, Any]:
        props: dict[str, Any] = {"GroupDescription": description, "VpcId": ref("VpcId")}
        if port is not None:
            props["SecurityGroupIngress"] = [
                {
                    "IpProtocol": "tcp",
                    "FromPort": port,
                    "ToPort": port,
                    "SourceSecurityGroupId": ref(source),
                    "Description": f"from {source}",
                }
            ]
        return {"Type": "AWS::EC2::SecurityGroup", "Properties": props}

    return {
        "LambdaSecurityGroup": group("AME functions: outbound only"),
        "ProxySecurityGroup": group("RDS Proxy: MySQL from the functions", 3306, "LambdaSecurityGroup"),
        "DatabaseSecurityGroup": group("Aurora: MySQL from the proxy only", 3306, "ProxySecurityGroup"),
        "CacheSecurityGroup": group("Redis: from the functions", 6379, "LambdaSecurityGroup"),
    }
