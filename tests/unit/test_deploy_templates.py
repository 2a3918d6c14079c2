"""The CloudFormation templates in deploy/ keep the promises deploy/README.md makes.

Static checks only (no AWS): parameter names from the pattern, least privilege where it is
easy to get wrong (no AWS-managed *FullAccess, no iam:PutUserPolicy, org-conditioned trust,
permissions boundaries), the function contract (handlers, runtime, environment) and a
byte-identical Lambda zip. cfn-lint and checkov run once, in `make deploy-lint`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from keyrotate.lambda_handlers import RUN_METRICS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATES = (
    "main.yaml",
    "member-role.yaml",
    "org-list-role.yaml",
    "vpc-endpoints.yaml",
    "secrets-key-replica.yaml",
)

PATTERN_PARAMETERS = {
    "S3BucketName", "S3BucketPrefix", "IAMRoleName", "ExecutionRoleName",
    "InventoryExecutionRoleName", "DryRunFlag", "OrgListAccount", "OrgListRole",
    "StoreSecretsInCentralAccount", "CredentialReplicationRegions", "RunLambdaInVPC", "VpcId",
    "VpcCidr", "SubnetId", "AdminEmailAddress", "AWSOrgID", "EmailTemplateAudit",
    "EmailTemplateEnforce", "SMTPUserParamName", "SMTPPasswordParamName",
}  # fmt: skip

FUNCTION_ENVIRONMENT = {
    "DryRunFlag", "RotationPeriod", "InstallWindow", "RecoveryWindow", "WarnPeriod", "InUseDays",
    "IAMExemptionGroup", "AccountExemptions", "IAMRoleName", "OrgListAccount", "OrgListRole",
    "AWSOrgID",
    "StoreSecretsInCentralAccount", "CredentialReplicationRegions", "AdminEmailAddress",
    "AllowedEmailDomains", "TemplateBucketOwner", "ProtectedUserArns", "ManagedUserPath",
    "ResourceOwnerTag", "EmailTemplateAudit", "EmailTemplateEnforce", "SMTPUserParamName",
    "SMTPPasswordParamName", "RunLambdaInVPC", "CentralAccount", "SecretsKmsKeyId",
    "MemberSecretsKmsKeyAlias",
    "EmailTransport", "EmailSender", "ReportBucket", "ReportPrefix", "POWERTOOLS_SERVICE_NAME",
    "POWERTOOLS_METRICS_NAMESPACE", "ReadSecretPolicyName", "SMTPHost",
    "MaxActionsPerRun", "MaxActionsPerAccount", "FailureBreakerPercent",
    "FailureBreakerMinActions", "KillSwitchParameter", "EventBusName", "SecurityHubFindings",
    "UserWorkers",
}  # fmt: skip


def load(name: str) -> dict[str, Any]:
    template: dict[str, Any] = cfn_yaml.load(str(DEPLOY / name))
    return template


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Policy statements, with the chosen branch of `!If [cond, statement, NoValue]` included."""
    found = []
    for entry in document["Statement"]:
        if "Fn::If" in entry:
            entry = entry["Fn::If"][1]
        found.append(entry)
    return found


def role_actions(role: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in role["Properties"].get("Policies", []):
        for statement in statements(policy["PolicyDocument"]):
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def load_package_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("keyrotate_deploy_package", DEPLOY / "package.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_main_template_declares_every_pattern_parameter_plus_boundary_and_concurrency() -> None:
    parameters = set(load("main.yaml")["Parameters"])
    missing = (PATTERN_PARAMETERS | {"PermissionsBoundaryArn", "MaxConcurrency"}) - parameters
    assert not missing


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("o-abcdefghij", True),
        ("o-a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6", True),
        ("o-abc", False),
        ("o-ABCDEFGHIJ", False),
        ("abcdefghijkl", False),
    ],
)
def test_org_id_parameter_accepts_only_o_dash_10_to_32_lowercase_alphanumerics(
    value: str, accepted: bool
) -> None:
    for name in ("main.yaml", "member-role.yaml", "org-list-role.yaml"):
        pattern = load(name)["Parameters"]["AWSOrgID"]["AllowedPattern"]
        assert pattern == "^o-[a-z0-9]{10,32}$"
        assert bool(re.fullmatch(pattern, value)) is accepted


def test_dry_run_is_the_default() -> None:
    dry_run = load("main.yaml")["Parameters"]["DryRunFlag"]
    assert dry_run["Default"] == "True"
    assert set(dry_run["AllowedValues"]) == {"True", "False"}


@pytest.mark.parametrize("name", TEMPLATES)
def test_no_aws_managed_policy_is_attached_anywhere(name: str) -> None:
    text = (DEPLOY / name).read_text(encoding="utf-8")
    assert "FullAccess" not in text
    assert ":iam::aws:policy/" not in text


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_role_wires_the_permissions_boundary(name: str) -> None:
    template = load(name)
    for role_name, role in resources_of(template, "AWS::IAM::Role").items():
        boundary = role["Properties"].get("PermissionsBoundary")
        assert boundary == {
            "Fn::If": [
                "HasPermissionsBoundary",
                {"Ref": "PermissionsBoundaryArn"},
                {"Ref": "AWS::NoValue"},
            ]
        }, role_name


def test_member_role_cannot_write_inline_user_policies() -> None:
    text = (DEPLOY / "member-role.yaml").read_text(encoding="utf-8")
    assert "PutUserPolicy" not in text
    role = load("member-role.yaml")["Resources"]["MemberRole"]
    assert not any(a.startswith("iam:Put") or a == "iam:*" for a in role_actions(role))


def test_member_role_attaches_only_the_read_own_secret_policy() -> None:
    template = load("member-role.yaml")
    role = template["Resources"]["MemberRole"]
    attach = [
        s
        for p in role["Properties"]["Policies"]
        for s in statements(p["PolicyDocument"])
        if "iam:AttachUserPolicy" in s["Action"] and s["Effect"] == "Allow"
    ]  # (the Deny fences name it too: test_iam_fences.py)
    assert len(attach) == 1
    assert attach[0]["Action"] == ["iam:AttachUserPolicy"]
    assert attach[0]["Condition"] == {
        "ArnEquals": {"iam:PolicyARN": {"Ref": "ReadOwnSecretPolicy"}}
    }
    policy = template["Resources"]["ReadOwnSecretPolicy"]["Properties"]["PolicyDocument"]
    own = statements(policy)[0]
    assert own["Resource"]["Fn::Sub"].endswith("/${!aws:username}-??????")


@pytest.mark.parametrize(
    ("name", "role", "trusted"),
    [
        ("member-role.yaml", "MemberRole", "${ExecutionRoleName}"),
        ("org-list-role.yaml", "OrgListRoleResource", "${InventoryExecutionRoleName}"),
    ],
)
def test_cross_account_roles_trust_one_role_and_only_inside_the_organization(
    name: str, role: str, trusted: str
) -> None:
    trust = load(name)["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    statement, operator = trust["Statement"]  # the function's; the operator's (below)
    principal = statement["Principal"]["AWS"]["Fn::Sub"]
    assert principal.endswith(f":role/{trusted}")
    assert statement["Condition"]["StringEquals"]["aws:PrincipalOrgID"] == {"Ref": "AWSOrgID"}
    assert operator["Fn::If"][0] == "HasOperator"


@pytest.mark.parametrize(
    ("name", "role"),
    [("member-role.yaml", "MemberRole"), ("org-list-role.yaml", "OrgListRoleResource")],
)
def test_the_operator_may_assume_the_role_only_when_named_and_inside_the_organization(
    name: str, role: str
) -> None:
    template = load(name)
    assert template["Parameters"]["OperatorPrincipalArn"]["Default"] == ""
    assert template["Conditions"]["HasOperator"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OperatorPrincipalArn"}, ""]}]
    }
    trust = template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]
    condition, statement, absent = trust["Statement"][1]["Fn::If"]
    assert (condition, absent) == ("HasOperator", {"Ref": "AWS::NoValue"})
    assert statement["Action"] == "sts:AssumeRole"
    # the operator's account, and within it only the principal named (wildcards for SSO)
    assert statement["Principal"]["AWS"]["Fn::Sub"][0].endswith(":root")
    assert statement["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": {"Ref": "AWSOrgID"}},
        "ArnLike": {"aws:PrincipalArn": {"Ref": "OperatorPrincipalArn"}},
    }


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("arn:aws:iam::111122223333:role/platform-admin", True),
        ("arn:aws:iam::111122223333:user/alice", True),
        (
            "arn:aws:iam::111122223333:role/aws-reserved/sso.amazonaws.com/*/"
            "AWSReservedSSO_SecurityAudit_*",
            True,
        ),
        ("*", False),
        ("arn:aws:iam::*:role/admin", False),
        ("arn:aws:iam::111122223333:root", False),
        ("arn:aws:sts::111122223333:assumed-role/admin/alice", False),
    ],
)
def test_operator_principal_is_one_role_or_user_of_a_named_account(
    value: str, accepted: bool
) -> None:
    for name in ("member-role.yaml", "org-list-role.yaml"):
        pattern = load(name)["Parameters"]["OperatorPrincipalArn"]["AllowedPattern"]
        assert bool(re.fullmatch(pattern, value)) is accepted, (name, value)


def test_main_trusted_role_names_are_the_ones_the_cross_account_roles_trust() -> None:
    resources = load("main.yaml")["Resources"]
    assert resources["RotationRole"]["Properties"]["RoleName"] == {"Ref": "ExecutionRoleName"}
    assert resources["InventoryRole"]["Properties"]["RoleName"] == {
        "Ref": "InventoryExecutionRoleName"
    }


def test_functions_share_one_code_zip_runtime_and_environment() -> None:
    package = load_package_module()
    functions = resources_of(load("main.yaml"), "AWS::Lambda::Function")
    handlers = {f["Properties"]["Handler"] for f in functions.values()}
    assert handlers == {
        "keyrotate.lambda_handlers.inventory_handler",
        "keyrotate.lambda_handlers.rotate_account_handler",
        "keyrotate.lambda_handlers.digest_handler",
    }
    for name, function in functions.items():
        props = function["Properties"]
        assert props["Runtime"] == f"python{package.PYTHON_VERSION}", name
        assert props["Architectures"] == [package.ARCHITECTURE], name
        assert props["Code"]["S3Key"] == {"Fn::Sub": "${S3BucketPrefix}${CodeZipName}"}, name
        assert set(props["Environment"]["Variables"]) == FUNCTION_ENVIRONMENT, name
    environments = [f["Properties"]["Environment"]["Variables"] for f in functions.values()]
    assert all(env == environments[0] for env in environments)


def test_central_secrets_key_rotates_and_report_bucket_is_locked_down() -> None:
    resources = load("main.yaml")["Resources"]
    for key in resources_of({"Resources": resources}, "AWS::KMS::Key").values():
        assert key["Properties"]["EnableKeyRotation"] is True
    bucket = resources["ReportBucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    deny = resources["ReportBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    for group in resources_of({"Resources": resources}, "AWS::Logs::LogGroup").values():
        assert "KmsKeyId" in group["Properties"]
        assert "RetentionInDays" in group["Properties"]


def test_the_functions_name_the_central_key_in_central_mode_only() -> None:
    template = load("main.yaml")
    for function in resources_of(template, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["SecretsKmsKeyId"] == {
            "Fn::If": ["StoreCentral", {"Fn::GetAtt": ["SecretsKey", "Arn"]}, ""]
        }
        assert variables["MemberSecretsKmsKeyAlias"] == {"Ref": "MemberSecretsKmsKeyAlias"}
    assert template["Resources"]["SecretsKey"]["Properties"]["MultiRegion"] is True
    assert template["Outputs"]["SecretsKmsKeyArn"]["Value"] == {"Fn::GetAtt": ["SecretsKey", "Arn"]}


@pytest.mark.parametrize("name", ["main.yaml", "member-role.yaml"])
def test_a_member_key_alias_is_refused_with_central_secrets(name: str) -> None:
    rule = load(name)["Rules"]["MemberKeyAliasOnlyInMemberMode"]
    assert rule["RuleCondition"] == {
        "Fn::Equals": [{"Ref": "StoreSecretsInCentralAccount"}, "True"]
    }
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "MemberSecretsKmsKeyAlias"}, ""]}


def test_the_replica_key_has_the_primary_keys_policy() -> None:
    primary = load("main.yaml")["Resources"]["SecretsKey"]["Properties"]["KeyPolicy"]
    replica = load("secrets-key-replica.yaml")["Resources"]["SecretsKeyReplica"]
    assert replica["Type"] == "AWS::KMS::ReplicaKey"
    assert replica["Properties"]["PrimaryKeyArn"] == {"Ref": "PrimaryKeyArn"}
    assert replica["Properties"]["KeyPolicy"] == primary


def test_the_member_role_may_use_only_the_aliased_member_key_through_secrets_manager() -> None:
    template = load("member-role.yaml")
    role = template["Resources"]["MemberRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    (conditional,) = [
        s["Fn::If"]
        for s in role["Statement"]
        if "Fn::If" in s
        and any(a.startswith("kms:") and a != "kms:DescribeKey" for a in s["Fn::If"][1]["Action"])
    ]  # the only grant to use a KMS key
    condition, statement, otherwise = conditional
    assert (condition, otherwise) == ("EnforceWithMemberKey", {"Ref": "AWS::NoValue"})
    assert template["Conditions"]["EnforceWithMemberKey"] == {
        "Fn::And": [{"Condition": "Enforce"}, {"Condition": "HasMemberSecretsKey"}]
    }
    assert statement["Action"] == ["kms:GenerateDataKey", "kms:Decrypt"]
    assert statement["Condition"]["ForAnyValue:StringEquals"] == {
        "kms:ResourceAliases": {"Ref": "MemberSecretsKmsKeyAlias"}
    }
    assert statement["Condition"]["StringLike"] == {
        "kms:ViaService": "secretsmanager.*.amazonaws.com"
    }
    assert template["Conditions"]["HasMemberSecretsKey"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MemberSecretsKmsKeyAlias"}, ""]}]
    }
    # keyrotate doctor's look at the key: its metadata, the aliased key only, both tiers
    (describe,) = [
        s["Fn::If"]
        for s in role["Statement"]
        if "Fn::If" in s and s["Fn::If"][1]["Action"] == ["kms:DescribeKey"]
    ]
    assert describe[0] == "HasMemberSecretsKey"
    assert describe[1]["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": {"Ref": "MemberSecretsKmsKeyAlias"}}
    }


def test_schedule_defaults_to_daily_and_can_be_created_disabled() -> None:
    template = load("main.yaml")
    assert template["Parameters"]["ScheduleExpression"]["Default"] == "rate(24 hours)"
    assert set(template["Parameters"]["ScheduleState"]["AllowedValues"]) == {"ENABLED", "DISABLED"}
    schedule = template["Resources"]["DailySchedule"]["Properties"]
    assert schedule["State"] == {"Ref": "ScheduleState"}
    assert schedule["Target"]["Arn"] == {"Ref": "RunStateMachine"}


def test_one_stack_path_rolls_out_the_member_role_with_auto_deployment() -> None:
    stack_set = load("main.yaml")["Resources"]["MemberRoleStackSet"]
    assert stack_set["Condition"] == "DeployStackSet"
    assert stack_set["Properties"]["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["Properties"]["AutoDeployment"]["Enabled"] is True
    member_parameters = set(load("member-role.yaml")["Parameters"])
    passed = {p["ParameterKey"] for p in stack_set["Properties"]["Parameters"]}
    assert passed <= member_parameters
    required = {n for n, p in load("member-role.yaml")["Parameters"].items() if "Default" not in p}
    assert required <= passed


def test_lambda_zip_is_byte_identical_whatever_the_file_times(tmp_path: Path) -> None:
    package = load_package_module()
    tree = tmp_path / "tree"
    (tree / "pkg" / "__pycache__").mkdir(parents=True)
    (tree / "bin").mkdir()
    (tree / "pkg" / "b.py").write_text("B = 2\n")
    (tree / "pkg" / "a.py").write_text("A = 1\n")
    (tree / "pkg" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0")
    (tree / "bin" / "tool").write_text("#!/somewhere/python\n")
    first, second = tmp_path / "1.zip", tmp_path / "2.zip"
    package.write_zip(tree, first)
    for path in tree.rglob("*.py"):
        path.touch()
        path.chmod(0o600)
    package.write_zip(tree, second)

    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["pkg/a.py", "pkg/b.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o644}


def test_lambda_zip_leaves_out_what_the_runtime_provides() -> None:
    package = load_package_module()
    pyproject = DEPLOY.parent / "pyproject.toml"
    bundled = {
        package._name(r) for r in package.runtime_requirements(pyproject, bundle_boto3=False)
    }
    assert "boto3" not in bundled
    assert "botocore" not in bundled
    assert {"pydantic", "jinja2", "aws-lambda-powertools"} <= bundled


def test_the_lambda_zip_holds_the_product_and_never_the_emulator(tmp_path: Path) -> None:
    package = load_package_module()
    pyproject = DEPLOY.parent / "pyproject.toml"
    bundled = {package._name(r) for r in package.runtime_requirements(pyproject, bundle_boto3=True)}
    assert "moto" not in bundled  # the emulator extra is not a runtime requirement
    tree = tmp_path / "tree"
    package.copy_package(package.PRODUCT, tree)  # what build() copies besides the wheels

    names = package.zip_entries(tree)

    assert "keyrotate/cli/app.py" in names
    assert "keyrotate/notify/templates/digest.j2" in names
    assert not [n for n in names if n.startswith(("keyrotate_emulator/", "moto"))]
    for planted in (
        "keyrotate_emulator/__init__.py",
        "moto/__init__.py",
        "moto-5.1.dist-info/RECORD",
    ):
        (tree / planted).parent.mkdir(parents=True, exist_ok=True)
        (tree / planted).write_text("")
        with pytest.raises(SystemExit, match="refusing to build"):
            package.zip_entries(tree)
        (tree / planted).unlink()


def test_the_kill_switch_is_created_off_and_only_the_enforcing_rotation_role_reads_it() -> None:
    template = load("main.yaml")
    switch = template["Resources"]["KillSwitch"]
    assert switch["Type"] == "AWS::SSM::Parameter"
    assert switch["Properties"]["Name"] == {"Fn::Sub": "/${AWS::StackName}/kill-switch"}
    assert (switch["Properties"]["Type"], switch["Properties"]["Value"]) == ("String", "off")
    for function in resources_of(template, "AWS::Lambda::Function").values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["KillSwitchParameter"] == {"Ref": "KillSwitch"}
    readers = {
        name: [
            s["Fn::If"]
            for p in role["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]
            if "Fn::If" in s and s["Fn::If"][1].get("Sid") == "ReadKillSwitch"
        ]
        for name, role in resources_of(template, "AWS::IAM::Role").items()
    }
    assert {name for name, found in readers.items() if found} == {"RotationRole"}
    ((condition, statement, otherwise),) = readers["RotationRole"]
    assert (condition, otherwise) == ("Enforce", {"Ref": "AWS::NoValue"})  # audits never read it
    assert statement["Action"] == ["ssm:GetParameter"]
    # the parameter's ARN: its name without the leading "/"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"
        "${AWS::StackName}/kill-switch"
    }


def test_the_alarms_watch_metrics_the_digest_emits_and_exist_only_with_a_topic() -> None:
    template = load("main.yaml")
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]
    }
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    (environment, *_) = (
        f["Properties"]["Environment"]["Variables"]
        for f in resources_of(template, "AWS::Lambda::Function").values()
    )
    by_metric = {a["Properties"]["MetricName"]: a for a in alarms.values()}
    assert set(by_metric) == {"AccountsFailed", "KeysDeactivated", "KillSwitchOpen"}
    assert set(by_metric) <= set(RUN_METRICS)
    for alarm in alarms.values():
        assert alarm["Condition"] == "HasAlarmTopic"
        props = alarm["Properties"]
        assert props["Namespace"] == environment["POWERTOOLS_METRICS_NAMESPACE"]
        # Powertools adds the service dimension; the digest adds the run's mode
        assert props["Dimensions"] == [
            {"Name": "service", "Value": environment["POWERTOOLS_SERVICE_NAME"]},
            {"Name": "mode", "Value": {"Fn::If": ["Enforce", "enforce", "audit"]}},
        ]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopicArn"}]
        assert props["TreatMissingData"] == "notBreaching"  # no run, no alarm
    spike = by_metric["KeysDeactivated"]["Properties"]
    assert (spike["Statistic"], spike["Threshold"]) == (
        "Sum",
        {"Ref": "DeactivationAlarmThreshold"},
    )
    assert spike["ComparisonOperator"] == "GreaterThanThreshold"
    for name in ("AccountsFailed", "KillSwitchOpen"):
        props = by_metric[name]["Properties"]
        assert (props["Threshold"], props["ComparisonOperator"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
        )


@pytest.mark.parametrize(
    ("name", "accepted"),
    [("", True), ("/keyrotate/smtp/user", True), ("/smtp", True), ("smtp-user", False)],
)
def test_the_smtp_parameter_grants_are_the_parameters_arns(name: str, accepted: bool) -> None:
    """A full SSM name (leading "/") follows "parameter" in its ARN with no slash added: the
    template takes only such names, so the grant never reads "parameter//keyrotate/..."."""
    template = load("main.yaml")
    for parameter in ("SMTPUserParamName", "SMTPPasswordParamName"):
        pattern = template["Parameters"][parameter]["AllowedPattern"]
        assert bool(re.fullmatch(pattern, name)) is accepted
    text = (DEPLOY / "main.yaml").read_text(encoding="utf-8")
    grants = re.findall(r":parameter(/?)\$\{SMTP(?:User|Password)ParamName\}", text)
    assert grants
    assert set(grants) == {""}
