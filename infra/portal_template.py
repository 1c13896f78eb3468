"""The Portal de Documentos in AWS (docs/deploy.md): a private S3 bucket behind CloudFront (origin access
control) with a response-headers policy, `/v1/*`, `/docs*` and `/openapi.json` forwarded to the API on the
same origin (no CORS), and a Cognito user pool whose access tokens AME accepts (AME_TOKEN_ISSUERS).

Everything here exists only when the `PortalDomainPrefix` parameter is set (condition HasPortal).
"""

from __future__ import annotations

import json
from typing import Any

CONDITION = "HasPortal"
PREFIX = "/portal/"
# AWS managed policies (ids are fixed by AWS).
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# The Chalice stage the REST API is deployed as (`chalice package` names it "api").
API_STAGE_PATH = "/api"
PORTAL_SCOPES = ("ame:orders:write", "ame:orders:read", "ame:quorum:simulate")


def _ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def _sub(text: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"Fn::Sub": [text, variables] if variables else text}


def parameters() -> dict[str, Any]:
    return {
        "PortalDomainPrefix": {
            "Type": "String",
            "Default": "",
            "Description": "Cognito hosted sign-in domain prefix of the Portal de Documentos (empty: no portal)",
            "AllowedPattern": "^$|^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$",
        },
        "PortalAccessTokenMinutes": {
            "Type": "Number",
            "Default": 15,
            "MinValue": 5,
            "MaxValue": 1440,
            "Description": "Lifetime of the portal's access tokens (minutes)",
        },
        "PortalSessionHours": {
            "Type": "Number",
            "Default": 8,
            "MinValue": 1,
            "MaxValue": 720,
            "Description": "Lifetime of the portal's refresh tokens: a sign-in lasts this long",
        },
    }


def conditions() -> dict[str, Any]:
    return {CONDITION: {"Fn::Not": [{"Fn::Equals": [_ref("PortalDomainPrefix"), ""]}]}}


def content_security_policy() -> dict[str, Any]:
    """As the local stack's (ame_local/portal_site.py), plus Cognito's endpoints the sign-in calls."""
    return _sub(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self' https://cognito-idp.${AWS::Region}.amazonaws.com "
        "https://${PortalDomainPrefix}.auth.${AWS::Region}.amazoncognito.com; object-src 'none'; "
        "base-uri 'self'; form-action 'self' https://${PortalDomainPrefix}.auth.${AWS::Region}.amazoncognito.com; "
        "frame-ancestors 'none'"
    )


# A viewer-request function: /portal/<route> without a file extension is the SPA's index.html. (Custom
# error responses would also turn the API's own 404 problems into the SPA page.)
SPA_FALLBACK_CODE = """function handler(event) {
  var request = event.request;
  var uri = request.uri;
  if (uri === '/portal') { return {statusCode: 301, statusDescription: 'Moved', headers: {location: {value: '/portal/'}}}; }
  if (uri.indexOf('/portal/') === 0 && uri.slice(uri.lastIndexOf('/') + 1).indexOf('.') === -1) {
    request.uri = '/portal/index.html';
  }
  return request;
}
"""

# Cognito's pre-token-generation trigger (V2): the access token carries the person's areas (custom:areas,
# comma-separated) and AME scopes (custom:scopes), as AME expects them (docs/deploy.md).
PRE_TOKEN_CODE = """import json

ALLOWED = {%s}


def handler(event, context):
    attributes = event["request"]["userAttributes"]
    areas = [a.strip() for a in attributes.get("custom:areas", "").split(",") if a.strip()]
    scopes = [s for s in attributes.get("custom:scopes", "").replace(",", " ").split() if s in ALLOWED]
    event["response"]["claimsAndScopeOverrideDetails"] = {
        "idTokenGeneration": {"claimsToAddOrOverride": {"areas": ",".join(areas)}},
        # `aud` cannot be set on Cognito access tokens: AME checks "ame_aud" instead (AME_TOKEN_ISSUERS).
        "accessTokenGeneration": {"claimsToAddOrOverride": {"areas": areas, "ame_aud": "ame"},
                                  "scopesToAdd": scopes},
    }
    return event
""" % ", ".join(json.dumps(s) for s in PORTAL_SCOPES)


def resources() -> dict[str, Any]:
    out: dict[str, Any] = {
        "PortalBucket": {
            "Type": "AWS::S3::Bucket",
            "Properties": {
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
                },
                "VersioningConfiguration": {"Status": "Enabled"},
            },
        },
        "PortalBucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": _ref("PortalBucket"),
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "CloudFrontReadsThroughOAC",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudfront.amazonaws.com"},
                            "Action": "s3:GetObject",
                            "Resource": _sub("${PortalBucket.Arn}/*"),
                            "Condition": {
                                "StringEquals": {
                                    "AWS:SourceArn": _sub(
                                        "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${PortalDistribution}"
                                    )
                                }
                            },
                        },
                        {
                            "Sid": "TlsOnly",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [_sub("${PortalBucket.Arn}"), _sub("${PortalBucket.Arn}/*")],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                    ],
                },
            },
        },
        "PortalOriginAccessControl": {
            "Type": "AWS::CloudFront::OriginAccessControl",
            "Properties": {
                "OriginAccessControlConfig": {
                    "Name": _sub("ame-portal-${Stage}-${AWS::Region}"),
                    "OriginAccessControlOriginType": "s3",
                    "SigningBehavior": "always",
                    "SigningProtocol": "sigv4",
                }
            },
        },
        "PortalHeadersPolicy": {
            "Type": "AWS::CloudFront::ResponseHeadersPolicy",
            "Properties": {
                "ResponseHeadersPolicyConfig": {
                    "Name": _sub("ame-portal-${Stage}-${AWS::Region}"),
                    "SecurityHeadersConfig": {
                        "ContentSecurityPolicy": {"ContentSecurityPolicy": content_security_policy(), "Override": True},
                        "StrictTransportSecurity": {
                            "AccessControlMaxAgeSec": 63072000,
                            "IncludeSubdomains": True,
                            "Override": True,
                        },
                        "ContentTypeOptions": {"Override": True},
                        "FrameOptions": {"FrameOption": "DENY", "Override": True},
                        "ReferrerPolicy": {"ReferrerPolicy": "no-referrer", "Override": True},
                    },
                }
            },
        },
        "PortalSpaFallback": {
            "Type": "AWS::CloudFront::Function",
            "Properties": {
                "Name": _sub("ame-portal-spa-${Stage}"),
                "AutoPublish": True,
                "FunctionCode": SPA_FALLBACK_CODE,
                "FunctionConfig": {
                    "Comment": "SPA fallback: /portal/<route> is /portal/index.html",
                    "Runtime": "cloudfront-js-2.0",
                },
            },
        },
        "PortalDistribution": {
            "Type": "AWS::CloudFront::Distribution",
            "Properties": {
                "DistributionConfig": {
                    "Enabled": True,
                    "Comment": _sub("AME Portal de Documentos (${Stage})"),
                    "HttpVersion": "http2and3",
                    "PriceClass": "PriceClass_100",
                    "IPV6Enabled": True,
                    "Origins": [
                        {
                            "Id": "portal",
                            "DomainName": {"Fn::GetAtt": ["PortalBucket", "RegionalDomainName"]},
                            "S3OriginConfig": {"OriginAccessIdentity": ""},
                            "OriginAccessControlId": {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]},
                        },
                        {
                            "Id": "api",
                            "DomainName": _sub("${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"),
                            "OriginPath": API_STAGE_PATH,
                            "CustomOriginConfig": {
                                "OriginProtocolPolicy": "https-only",
                                "OriginSSLProtocols": ["TLSv1.2"],
                            },
                        },
                    ],
                    "DefaultCacheBehavior": {
                        "TargetOriginId": "portal",
                        "ViewerProtocolPolicy": "redirect-to-https",
                        "Compress": True,
                        "CachePolicyId": CACHING_OPTIMIZED,
                        "ResponseHeadersPolicyId": _ref("PortalHeadersPolicy"),
                        "AllowedMethods": ["GET", "HEAD"],
                        "FunctionAssociations": [
                            {
                                "EventType": "viewer-request",
                                "FunctionARN": {"Fn::GetAtt": ["PortalSpaFallback", "FunctionARN"]},
                            }
                        ],
                    },
                    "CacheBehaviors": [
                        {
                            "PathPattern": pattern,
                            "TargetOriginId": "api",
                            "ViewerProtocolPolicy": "https-only",
                            "Compress": True,
                            "CachePolicyId": CACHING_DISABLED,
                            "OriginRequestPolicyId": ALL_VIEWER_EXCEPT_HOST,
                            "ResponseHeadersPolicyId": _ref("PortalHeadersPolicy"),
                            "AllowedMethods": ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
                        }
                        for pattern in ("/v1/*", "/docs*", "/openapi.json")
                    ],
                }
            },
        },
        # -- sign-in ---------------------------------------------------------------------------------
        "PortalUserPool": {
            "Type": "AWS::Cognito::UserPool",
            "Properties": {
                "UserPoolName": _sub("ame-portal-${Stage}"),
                "UserPoolTier": "ESSENTIALS",  # access-token customisation (pre-token trigger V2) needs it
                "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
                "UsernameConfiguration": {"CaseSensitive": False},
                "AutoVerifiedAttributes": ["email"],
                "Policies": {
                    "PasswordPolicy": {
                        "MinimumLength": 12,
                        "RequireLowercase": True,
                        "RequireUppercase": True,
                        "RequireNumbers": True,
                    }
                },
                "Schema": [
                    {"Name": "name", "AttributeDataType": "String", "Mutable": True, "Required": True},
                    {"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True},
                    {
                        "Name": "areas",
                        "AttributeDataType": "String",
                        "Mutable": True,
                        "StringAttributeConstraints": {"MaxLength": "512"},
                    },
                    {
                        "Name": "scopes",
                        "AttributeDataType": "String",
                        "Mutable": True,
                        "StringAttributeConstraints": {"MaxLength": "256"},
                    },
                ],
                "LambdaConfig": {
                    "PreTokenGenerationConfig": {
                        "LambdaArn": {"Fn::GetAtt": ["PortalPreTokenFunction", "Arn"]},
                        "LambdaVersion": "V2_0",
                    }
                },
            },
        },
        "PortalUserPoolDomain": {
            "Type": "AWS::Cognito::UserPoolDomain",
            "Properties": {"Domain": _ref("PortalDomainPrefix"), "UserPoolId": _ref("PortalUserPool")},
        },
        "PortalUserPoolClient": {
            "Type": "AWS::Cognito::UserPoolClient",
            "Properties": {
                "ClientName": "portal",
                "UserPoolId": _ref("PortalUserPool"),
                "GenerateSecret": False,
                "AllowedOAuthFlowsUserPoolClient": True,
                "AllowedOAuthFlows": ["code"],
                "AllowedOAuthScopes": ["openid", "profile", "email"],
                "SupportedIdentityProviders": ["COGNITO"],
                "CallbackURLs": [_sub("https://${PortalDistribution.DomainName}/portal/callback")],
                "LogoutURLs": [_sub("https://${PortalDistribution.DomainName}/portal/")],
                "ExplicitAuthFlows": ["ALLOW_REFRESH_TOKEN_AUTH"],
                "EnableTokenRevocation": True,
                "PreventUserExistenceErrors": "ENABLED",
                "AccessTokenValidity": _ref("PortalAccessTokenMinutes"),
                "IdTokenValidity": _ref("PortalAccessTokenMinutes"),
                "RefreshTokenValidity": _ref("PortalSessionHours"),
                "TokenValidityUnits": {"AccessToken": "minutes", "IdToken": "minutes", "RefreshToken": "hours"},
                "ReadAttributes": ["name", "email", "custom:areas"],
                "WriteAttributes": ["name", "email"],
            },
        },
        "PortalPreTokenRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [
                    _sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
                ],
            },
        },
        "PortalPreTokenFunction": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Timeout": 5,
                "MemorySize": 128,
                "Role": {"Fn::GetAtt": ["PortalPreTokenRole", "Arn"]},
                "Code": {"ZipFile": PRE_TOKEN_CODE},
                "TracingConfig": {"Mode": "Active"},
            },
        },
        "PortalPreTokenPermission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": {"Fn::GetAtt": ["PortalPreTokenFunction", "Arn"]},
                "Principal": "cognito-idp.amazonaws.com",
                "SourceArn": {"Fn::GetAtt": ["PortalUserPool", "Arn"]},
            },
        },
    }
    for resource in out.values():
        resource["Condition"] = CONDITION
    return out


def token_issuers() -> dict[str, Any]:
    """AME_TOKEN_ISSUERS for the functions: the portal's Cognito pool, or "".

    Access tokens only, with the "ame_aud" claim the pool's pre-token trigger adds. Not by app client id:
    the client names the distribution (callback URL), the distribution names the API, and the API's functions
    would then name the client (a dependency cycle); the pool is the portal's alone.
    """
    issuer = "https://cognito-idp.${AWS::Region}.amazonaws.com/${PortalUserPool}"
    value = {
        issuer: {
            "jwks_url": issuer + "/.well-known/jwks.json",
            "audience": "ame",
            "audience_claim": "ame_aud",
            "caller_claim": "username",
            "caller_prefix": "portal:",
        }
    }
    return {"Fn::If": [CONDITION, _sub(json.dumps(value, separators=(",", ":"))), ""]}


def outputs() -> dict[str, Any]:
    def output(value: Any) -> dict[str, Any]:
        return {"Condition": CONDITION, "Value": value}

    return {
        "PortalUrl": output(_sub("https://${PortalDistribution.DomainName}/portal/")),
        "PortalDomainName": output({"Fn::GetAtt": ["PortalDistribution", "DomainName"]}),
        "PortalDistributionId": output(_ref("PortalDistribution")),
        "PortalBucketName": output(_ref("PortalBucket")),
        "PortalUserPoolId": output(_ref("PortalUserPool")),
        "PortalClientId": output(_ref("PortalUserPoolClient")),
        "PortalSignInDomain": output(_sub("${PortalDomainPrefix}.auth.${AWS::Region}.amazoncognito.com")),
    }


def portal_config(outputs: dict[str, str], region: str) -> dict[str, Any]:
    """The deployed `/portal/config.json` (same shape as the local one, ame_local/portal_site.py)."""
    origin = f"https://{outputs['PortalDomainName']}"
    sign_in = f"https://{outputs['PortalSignInDomain']}"
    return {
        "apiBaseUrl": origin,
        "oidc": {
            "authority": f"https://cognito-idp.{region}.amazonaws.com/{outputs['PortalUserPoolId']}",
            "client_id": outputs["PortalClientId"],
            "redirect_uri": f"{origin}/portal/callback",
            "post_logout_redirect_uri": f"{origin}/portal/",
            # AME's scopes come from the pre-token trigger (custom:scopes), not from the request.
            "scope": "openid profile email",
            # Cognito's discovery has no end_session_endpoint; its /logout takes client_id and logout_uri.
            "metadataSeed": {"end_session_endpoint": f"{sign_in}/logout"},
            "extraLogoutParams": {"client_id": outputs["PortalClientId"], "logout_uri": f"{origin}/portal/"},
        },
    }
