"""A moto organization for tests: accounts, OUs, and each member's registry written
through that member's own assumed-role client."""

from __future__ import annotations

from typing import Any

import boto3

from standin.sagemaker import REGION
from tests.conftest import boto_client

ROLE_NAME = "RegistryReader"
MANAGEMENT = "123456789012"  # moto's default account: the organization's management account


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/{ROLE_NAME}"


def member_client(endpoint: str, account: str, service: str = "sagemaker") -> Any:
    """A client of ``account``, through its member role, as a member's own tooling would be."""
    creds = boto_client(endpoint, "sts").assume_role(
        RoleArn=role_arn(account), RoleSessionName="seed"
    )["Credentials"]
    return boto3.client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def register(endpoint: str, account: str, group: str, versions: int = 1) -> None:
    client = member_client(endpoint, account)
    client.create_model_package_group(ModelPackageGroupName=group)
    for _ in range(versions):
        client.create_model_package(
            ModelPackageGroupName=group,
            InferenceSpecification={
                "Containers": [{"Image": "x"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
        )


class Organization:
    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.client = boto_client(endpoint, "organizations")
        self.client.create_organization(FeatureSet="ALL")
        self.root = self.client.list_roots()["Roots"][0]["Id"]

    def add_account(self, name: str, parent: str | None = None) -> str:
        status = self.client.create_account(AccountName=name, Email=f"{name}@example.com")
        account = str(status["CreateAccountStatus"]["AccountId"])
        if parent is not None:
            self.client.move_account(
                AccountId=account, SourceParentId=self.root, DestinationParentId=parent
            )
        return account

    def add_unit(self, name: str, parent: str | None = None) -> str:
        unit = self.client.create_organizational_unit(ParentId=parent or self.root, Name=name)
        return str(unit["OrganizationalUnit"]["Id"])
