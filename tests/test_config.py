"""interop.toml: a valid file loads into the dataclasses; every kind of mistake is a ConfigError
that names the key and never shows a secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from interop.config import (
    BearerAuthSettings,
    Config,
    ConfigError,
    Secret,
    SignedJwtSettings,
    load_config,
)
from interop.domain import ResponsibleLocalAuthority

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "interop.example.toml"

PASSWORD = "s3cret-Pa55word"
SHARED_KEY = "sh4red-K3y"

VALID = """\
[environment]
name = "test"

[local_authority]
ods_code = "X26"
name = "Test Borough Council"
emergency_duty_phone = "0113 496 0000"
office_hours_phone = "0113 496 0001"
secure_email = "duty@example.gov.uk"

[mesh]
endpoint = "http://127.0.0.1:8700"
mailbox = "x26la0001"
password = { env = "TEST_MESH_PASSWORD" }
shared_key = { file = "secrets/shared_key" }
timeout = 30
max_retries = 2
retry_budget = 10.5

[cpis]
mailbox = "X26CPIS01"
upload_workflow_id = "TEST_UPLOAD"
acknowledgement_workflow_id = "TEST_ACK"
access_notification_workflow_id = "TEST_ACCESS"
inactive_nhs_number_workflow_id = "TEST_INACTIVE"
max_records_per_file = 1000
"""


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_MESH_PASSWORD", PASSWORD)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "shared_key").write_text(SHARED_KEY + "\n", encoding="utf-8")
    (tmp_path / "secrets" / "shared_key").chmod(0o600)  # a secret others can read is refused
    return tmp_path


def write(directory: Path, text: str) -> Path:
    path = directory / "interop.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(directory: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(write(directory, text))
    message = str(caught.value)
    assert PASSWORD not in message
    assert SHARED_KEY not in message
    return caught.value


def test_valid_config_loads(config_dir: Path) -> None:
    config = load_config(write(config_dir, VALID))
    assert config.environment.name == "test"
    assert config.mesh.endpoint == "http://127.0.0.1:8700"
    assert config.mesh.mailbox == "X26LA0001"  # MESH ids are normalised to upper case
    assert config.mesh.password == Secret("env:TEST_MESH_PASSWORD", PASSWORD)
    assert config.mesh.shared_key.value == SHARED_KEY  # the file's trailing newline is dropped
    assert config.mesh.verify_tls is True
    assert (config.mesh.timeout, config.mesh.max_retries, config.mesh.retry_budget) == (
        30.0,
        2,
        10.5,
    )
    assert config.mesh.client_cert is None
    assert config.cpis.upload_workflow_id == "TEST_UPLOAD"
    assert config.cpis.inactive_nhs_number_workflow_id == "TEST_INACTIVE"
    assert config.cpis.max_records_per_file == 1000
    la = config.local_authority()
    assert isinstance(la, ResponsibleLocalAuthority)
    assert (la.ods_code, la.name, la.office_hours_phone) == (
        "X26",
        "Test Borough Council",
        "0113 496 0001",
    )


def test_secrets_never_show_in_repr(config_dir: Path) -> None:
    config = load_config(write(config_dir, VALID))
    for text in (repr(config), str(config), str(config.mesh.password)):
        assert PASSWORD not in text
        assert SHARED_KEY not in text
    assert "env:TEST_MESH_PASSWORD" in repr(config)


def test_defaults(config_dir: Path) -> None:
    text = VALID.replace('[environment]\nname = "test"\n', "")
    text = text.replace('"http://127.0.0.1:8700"', '"https://mesh.example"')
    text = text.replace("timeout = 30\nmax_retries = 2\nretry_budget = 10.5\n", "")
    text = text.replace("max_records_per_file = 1000\n", "")
    text = text.replace('office_hours_phone = "0113 496 0001"\n', "")
    config = load_config(write(config_dir, text))
    assert config.environment.name == "production"  # the strictest, unless the file says
    assert (config.mesh.timeout, config.mesh.max_retries, config.mesh.retry_budget) == (
        120.0,
        3,
        60.0,
    )
    assert config.cpis.max_records_per_file == 5000
    assert config.local_authority().office_hours_phone is None


def test_example_file_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    key.write_text("-----BEGIN PRIVATE KEY-----\n", encoding="utf-8")
    monkeypatch.setenv("MESH_MAILBOX_PASSWORD", PASSWORD)
    monkeypatch.setenv("MESH_SHARED_KEY", SHARED_KEY)
    monkeypatch.setenv("MESH_CLIENT_CERT", str(cert))
    monkeypatch.setenv("MESH_CLIENT_KEY", str(key))
    config = load_config(EXAMPLE)
    assert config.mesh.endpoint == "INT"
    assert config.mesh.client_cert == cert
    assert config.mesh.client_key == key
    assert config.environment.name == "test"
    assert config.local_authority().name == "Example Borough Council"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "absent.toml")


def test_toml_syntax_error_gives_the_line(config_dir: Path) -> None:
    text = VALID.replace('name = "Test Borough Council"', "name = Test Borough Council")
    error = error_of(config_dir, text)
    assert "invalid TOML" in str(error)
    assert "line 6" in str(error)


def test_not_utf8(config_dir: Path) -> None:
    path = config_dir / "interop.toml"
    path.write_bytes(b'[mesh]\nmailbox = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(path)


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        ("timeout = 30", "timout = 30", "mesh.timout", "did you mean 'timeout'"),
        ("[cpis]", "[cpis]\nextra = 1", "cpis.extra", "unknown key"),
        ("[environment]", "[enviroment]", "enviroment", "unknown section"),
        ("timeout = 30", 'timeout = "30"', "mesh.timeout", "expected a number, found a string"),
        ("timeout = 30", "timeout = true", "mesh.timeout", "found a boolean"),
        ("timeout = 30", "timeout = 0", "mesh.timeout", "more than 0"),
        ("max_retries = 2", "max_retries = 2.5", "mesh.max_retries", "expected an integer"),
        ("max_records_per_file = 1000", "max_records_per_file = 5001", "cpis", "between 1"),
        ('mailbox = "X26CPIS01"', "mailbox = 7", "cpis.mailbox", "expected a string"),
        ('mailbox = "X26CPIS01"', 'mailbox = "X 26"', "cpis.mailbox", "letters or digits"),
        ('upload_workflow_id = "TEST_UPLOAD"', "", "cpis.upload_workflow_id", "missing required"),
        (
            'acknowledgement_workflow_id = "TEST_ACK"',
            'acknowledgement_workflow_id = "ACK*"',
            "cpis.acknowledgement_workflow_id",
            "workflow id",
        ),
        ('endpoint = "http://127.0.0.1:8700"', 'endpoint = "DEV"', "mesh.endpoint", "INT"),
        ('endpoint = "http://127.0.0.1:8700"', 'endpoint = "LIVE"', "mesh.endpoint", "production"),
        ('name = "test"', 'name = "staging"', "environment.name", "production"),
        ('ods_code = "X26"', 'ods_code = "?"', "local_authority.ods_code", ""),
        (
            'emergency_duty_phone = "0113 496 0000"',
            'emergency_duty_phone = "12"',
            "local_authority.emergency_duty_phone",
            "10 to 13 digits",
        ),
        ('secure_email = "duty@example.gov.uk"', 'secure_email = "nope"', "secure_email", ""),
        ('emergency_duty_phone = "0113 496 0000"\n', "", "emergency_duty_phone", "missing"),
        ("[mesh]", "[mesh]\nverify_tls = 1", "mesh.verify_tls", "expected a boolean"),
    ],
)
def test_each_mistake_names_its_key(
    config_dir: Path, old: str, new: str, path: str, words: str
) -> None:
    assert old in VALID
    error = error_of(config_dir, VALID.replace(old, new, 1))
    assert any(p.startswith(path) or p.endswith(path) for p in error.paths), error.paths
    assert words in str(error)


def test_missing_section(config_dir: Path) -> None:
    text = VALID[: VALID.index("[cpis]")]
    error = error_of(config_dir, text)
    assert error.paths == ("cpis",)


def test_every_problem_is_reported_at_once(config_dir: Path) -> None:
    text = VALID.replace("timeout = 30", "timout = 30").replace('"TEST_ACK"', "3")
    error = error_of(config_dir, text)
    assert set(error.paths) == {"mesh.timout", "cpis.acknowledgement_workflow_id"}


def test_plain_string_secret_is_refused_without_echoing_it(config_dir: Path) -> None:
    text = VALID.replace('{ env = "TEST_MESH_PASSWORD" }', f'"{PASSWORD}"')
    error = error_of(config_dir, text)  # error_of asserts the value is not in the message
    assert error.paths == ("mesh.password",)
    assert '{ env = "NAME" }' in str(error)
    assert '{ file = "path" }' in str(error)


@pytest.mark.parametrize(
    "value",
    ['{ env = "A", file = "b" }', "{ }", '{ environment = "A" }', '{ env = "" }', "42"],
)
def test_malformed_secret_reference(config_dir: Path, value: str) -> None:
    text = VALID.replace('{ env = "TEST_MESH_PASSWORD" }', value)
    error = error_of(config_dir, text)
    assert all(p.startswith("mesh.password") for p in error.paths)


def test_missing_env_var(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_MESH_PASSWORD")
    error = error_of(config_dir, VALID)
    assert error.paths == ("mesh.password",)
    assert "TEST_MESH_PASSWORD is not set" in str(error)


def test_empty_secret(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_MESH_PASSWORD", "  ")
    assert error_of(config_dir, VALID).paths == ("mesh.password",)


def test_unreadable_secret_file(config_dir: Path) -> None:
    (config_dir / "secrets" / "shared_key").unlink()
    error = error_of(config_dir, VALID)
    assert error.paths == ("mesh.shared_key",)
    assert "cannot read secret file" in str(error)


def test_secret_file_that_cannot_be_read(config_dir: Path) -> None:
    # A directory in its place: unreadable even for root (a chmod 0 file is not).
    (config_dir / "secrets" / "shared_key").unlink()
    (config_dir / "secrets" / "shared_key").mkdir()
    error = error_of(config_dir, VALID)
    assert error.paths == ("mesh.shared_key",)
    assert "Is a directory" in str(error)


def test_certificates(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (config_dir / "certs").mkdir()
    for name in ("client.pem", "client.key", "ca.pem"):
        (config_dir / "certs" / name).write_text("pem\n", encoding="utf-8")
    monkeypatch.setenv("TEST_CA", str(config_dir / "certs" / "ca.pem"))
    text = VALID.replace(
        "timeout = 30",
        'client_cert = { file = "certs/client.pem" }\nclient_key = { file = "certs/client.key" }\n'
        'ca_bundle = { env = "TEST_CA" }\nverify_tls = false\ntimeout = 30',
    )
    mesh = load_config(write(config_dir, text)).mesh
    assert mesh.client_cert == config_dir / "certs" / "client.pem"
    assert mesh.ca_bundle == config_dir / "certs" / "ca.pem"
    assert mesh.verify_tls is False


def test_certificate_problems(config_dir: Path) -> None:
    text = VALID.replace(
        "timeout = 30", 'client_cert = { file = "certs/absent.pem" }\nca_bundle = "ca.pem"'
    )
    error = error_of(config_dir, text)
    assert set(error.paths) == {"mesh.client_cert", "mesh.ca_bundle", "mesh"}
    assert "client_key go together" in str(error)


def test_int_and_live_need_a_client_certificate(config_dir: Path) -> None:
    text = VALID.replace('"http://127.0.0.1:8700"', '"INT"')
    error = error_of(config_dir, text)
    assert error.paths == ("mesh.client_cert",)
    assert "mutual TLS" in str(error)


def test_production_guards(config_dir: Path) -> None:
    production = VALID.replace('name = "test"', 'name = "production"')
    # plain http to a sandbox on this machine never crosses a network: allowed
    assert load_config(write(config_dir, production)).mesh.endpoint == "http://127.0.0.1:8700"
    off_machine = production.replace('"http://127.0.0.1:8700"', '"http://mesh.example:8700"')
    assert error_of(config_dir, off_machine).paths == ("mesh.endpoint",)  # plain http
    to_int = production.replace('"http://127.0.0.1:8700"', '"INT"')
    assert "mesh.endpoint" in error_of(config_dir, to_int).paths
    no_tls = production.replace('"http://127.0.0.1:8700"', '"https://mesh.example"')
    no_tls = no_tls.replace("timeout = 30", "verify_tls = false")
    assert error_of(config_dir, no_tls).paths == ("mesh.verify_tls",)


DECLARE_TEST = 'add [environment] name = "test" for a test environment'


def test_without_an_environment_section_the_environment_is_production(config_dir: Path) -> None:
    # a file that forgets [environment] gets production's guards, and is told how to say
    # that it is a test installation
    undeclared = VALID.replace('[environment]\nname = "test"\n', "")
    undeclared = undeclared.replace("http://127.0.0.1:8700", "http://mesh.example:8700")
    error = error_of(config_dir, undeclared)
    assert error.paths == ("mesh.endpoint",)
    assert "https://" in str(error)
    assert DECLARE_TEST in str(error)
    # an [environment] table without a name is production too
    nameless = undeclared.replace("[local_authority]", "[environment]\n\n[local_authority]")
    assert DECLARE_TEST in str(error_of(config_dir, nameless))
    # production said out loud: the guard, without the hint to turn it into a test installation
    declared = VALID.replace('name = "test"', 'name = "production"')
    declared = declared.replace("http://127.0.0.1:8700", "http://mesh.example:8700")
    assert DECLARE_TEST not in str(error_of(config_dir, declared))
    assert load_config(write(config_dir, VALID)).environment.name == "test"


def _stand_in_text(extra: str) -> str:
    return (
        '[environment]\nname = "test"\n\n'
        '[mesh]\nendpoint = "http://127.0.0.1:9"\nmailbox = "X26CPIS01"\n'
        'password = { env = "SI_PASSWORD" }\nshared_key = { env = "SI_KEY" }\n'
        '[cpis]\nmailbox = "X26CPIS01"\nupload_workflow_id = "U"\n'
        'acknowledgement_workflow_id = "A"\naccess_notification_workflow_id = "N"\n'
        'inactive_nhs_number_workflow_id = "I"\n' + extra
    )


def test_stand_in_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from interop.config import load_stand_in_config

    monkeypatch.setenv("SI_PASSWORD", "pw")
    monkeypatch.setenv("SI_KEY", "key")
    (tmp_path / "pds.txt").write_text("9434765919\n9000000009\n", encoding="utf-8")
    path = tmp_path / "stand-in.toml"
    path.write_text(
        _stand_in_text('[stand_in]\npds_known_file = "pds.txt"\nsensitive = ["9000000025"]\n'),
        encoding="utf-8",
    )
    config = load_stand_in_config(path)
    assert config.stand_in.pds_known == frozenset({"9434765919", "9000000009"})
    assert config.stand_in.register == tmp_path / "cpis-register.sqlite"
    assert config.stand_in.accept_test_block is False


@pytest.mark.parametrize(
    ("stand_in", "key"),
    [
        ("", "stand_in"),  # the section is required
        ('[stand_in]\npds_known = "9434765919"\n', "stand_in.pds_known"),
        ('[stand_in]\npds_known_file = "absent.txt"\n', "stand_in.pds_known_file"),
        ('[stand_in]\naccept_test_block = "yes"\n', "stand_in.accept_test_block"),
        ("[stand_in]\npds_knwon = []\n", "stand_in.pds_knwon"),
        ("[stand_in]\n[local_authority]\n", "local_authority"),
    ],
)
def test_stand_in_config_errors_name_the_key(
    stand_in: str, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interop.config import load_stand_in_config

    monkeypatch.setenv("SI_PASSWORD", "pw")
    monkeypatch.setenv("SI_KEY", "key")
    path = tmp_path / "stand-in.toml"
    path.write_text(_stand_in_text(stand_in), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_stand_in_config(path)
    assert key in caught.value.paths


# --- [endpoints], [directory], [audit] ----------------------------------------------------------

ENDPOINTS = """\
[environment]
name = "test"

[endpoints.sandbox]
kind = "fhir"
url = "http://127.0.0.1:8080/fhir/"
artefacts = ["child-protection-flag", "travel-alert"]
push_mode = "resources"
write = "conditional"
timeout = 5
max_retries = 1
retry_budget = 2.5

[endpoints.cpis-int]
kind = "fhir"
url = "https://int.api.example/cpis/FHIR/R4"
ods_code = "x26"

[endpoints.cpis-int.auth]
type = "signed-jwt"
token_url = "https://int.api.example/oauth2/token"
api_key = { env = "TEST_API_KEY" }
private_key = { file = "secrets/jwt.pem" }
kid = "int-1"
assertion_lifetime = 120

[endpoints.trust]
kind = "fhir"
url = "https://fhir.trust.example/R4"
auth = { type = "bearer", token = { env = "TEST_TRUST_TOKEN" } }

[endpoints.police]
kind = "mesh"
mailbox = "x26pol01"
workflow_id = "TEST_POLICE"

[endpoints.hl7]
kind = "mllp"
url = "mllp://127.0.0.1:2575"

[endpoints.outbox]
kind = "folder"
path = "out"

[directory.X26]
name = "Test Borough Council"
role = "local-authority"
endpoints = ["sandbox"]
partners = ["RR8", "P26"]

[directory.RR8]
name = "Test Hospitals NHS Trust"
role = "health"
endpoints = ["trust", "sandbox"]

[directory.P26]
name = "Test Police"
role = "police"
endpoints = ["police"]

[audit]
log = "logs/audit.jsonl"
user = "duty.manager"
"""

API_KEY = "api-key-123"
TRUST_TOKEN = "trust-token-456"
PEM = "-----BEGIN PRIVATE KEY-----\nTUlJQ2Vn\n-----END PRIVATE KEY-----\n"


@pytest.fixture
def endpoints_dir(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TEST_API_KEY", API_KEY)
    monkeypatch.setenv("TEST_TRUST_TOKEN", TRUST_TOKEN)
    (config_dir / "secrets" / "jwt.pem").write_text(PEM, encoding="utf-8")
    (config_dir / "secrets" / "jwt.pem").chmod(0o600)
    return config_dir


def load_endpoints(directory: Path, text: str, **kw: object) -> Config:
    return load_config(write(directory, text), need=("endpoints",), **kw)  # type: ignore[arg-type]


def endpoints_error(directory: Path, text: str, **kw: object) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_endpoints(directory, text, **kw)
    message = str(caught.value)
    for secret in (API_KEY, TRUST_TOKEN, "TUlJQ2Vn"):
        assert secret not in message
    return caught.value


def test_endpoints_directory_and_audit_load(endpoints_dir: Path) -> None:
    config = load_endpoints(endpoints_dir, ENDPOINTS)
    sandbox = config.endpoint("sandbox")
    assert (sandbox.kind, sandbox.url, sandbox.auth) == ("fhir", "http://127.0.0.1:8080/fhir", None)
    assert sandbox.artefacts == frozenset({"child-protection-flag", "travel-alert"})
    assert sandbox.accepts("travel-alert")
    assert not sandbox.accepts("health-needs-checklist")
    assert (sandbox.push_mode, sandbox.timeout, sandbox.max_retries, sandbox.retry_budget) == (
        "resources",
        5.0,
        1,
        2.5,
    )
    assert sandbox.write == "conditional"
    cpis = config.endpoint("cpis-int")
    assert cpis.ods_code == "X26"
    assert cpis.write == "auto"  # as the server's CapabilityStatement offers
    assert isinstance(cpis.auth, SignedJwtSettings)
    assert cpis.auth.api_key.value == API_KEY
    assert cpis.auth.private_key.value == PEM.removesuffix("\n")
    assert (cpis.auth.kid, cpis.auth.assertion_lifetime) == ("int-1", 120.0)
    trust = config.endpoint("trust")
    assert isinstance(trust.auth, BearerAuthSettings)
    assert trust.auth.token.value == TRUST_TOKEN
    assert config.endpoint("trust").accepts("health-needs-checklist")  # no list: every kind
    police = config.endpoint("police")
    assert (police.kind, police.mailbox, police.workflow_id) == ("mesh", "X26POL01", "TEST_POLICE")
    assert config.endpoint("hl7").url == "mllp://127.0.0.1:2575"
    assert config.endpoint("outbox").path == endpoints_dir / "out"
    assert config.directory["X26"].partners == ("RR8", "P26")
    assert config.directory["RR8"].endpoints == ("trust", "sandbox")
    assert config.directory["P26"].role == "police"
    assert config.audit is not None
    assert config.audit.log == endpoints_dir / "logs" / "audit.jsonl"
    assert config.audit.user == "duty.manager"
    for text in (repr(config), str(config)):
        assert API_KEY not in text
        assert TRUST_TOKEN not in text
        assert "TUlJQ2Vn" not in text


def test_sections_a_command_does_not_need_may_be_absent(endpoints_dir: Path) -> None:
    config = load_endpoints(endpoints_dir, ENDPOINTS)
    assert config.mesh_settings is None
    with pytest.raises(ConfigError) as caught:
        _ = config.mesh
    assert caught.value.paths == ("mesh",)
    with pytest.raises(ConfigError) as caught:
        load_config(write(endpoints_dir, ENDPOINTS))  # the CP-IS jobs' sections, as before
    assert set(caught.value.paths) == {"local_authority", "mesh", "cpis"}
    error = endpoints_error(endpoints_dir, '[environment]\nname = "test"\n')
    assert error.paths == ("endpoints",)


def test_only_the_endpoints_asked_for_read_their_secrets(
    endpoints_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_TRUST_TOKEN")
    config = load_endpoints(endpoints_dir, ENDPOINTS, endpoints=["sandbox"])
    assert set(config.endpoints) == {"sandbox"}
    assert "trust" in config.endpoint_names
    error = endpoints_error(endpoints_dir, ENDPOINTS, endpoints=["trust"])
    assert error.paths == ("endpoints.trust.auth.token",)
    # a mistake in an endpoint not asked for is still reported
    broken = ENDPOINTS.replace('kind = "mllp"', 'kind = "mlp"')
    error = endpoints_error(endpoints_dir, broken, endpoints=["sandbox"])
    assert error.paths == ("endpoints.hl7.kind",)


def test_unknown_endpoint_suggests_the_close_name(endpoints_dir: Path) -> None:
    config = load_endpoints(endpoints_dir, ENDPOINTS)
    with pytest.raises(ConfigError, match="did you mean 'sandbox'") as caught:
        config.endpoint("sandbx")
    assert caught.value.paths == ("endpoints.sandbx",)


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        ('kind = "mllp"', 'kind = "mlp"', "endpoints.hl7.kind", "fhir, mesh, mllp, folder"),
        (
            'url = "http://127.0.0.1:8080/fhir/"',
            'url = "ftp://127.0.0.1/fhir"',
            "endpoints.sandbox.url",
            "http://",
        ),
        (
            'url = "http://127.0.0.1:8080/fhir/"',
            'url = "http://user:pw@127.0.0.1/fhir"',
            "endpoints.sandbox.url",
            "user information",
        ),
        ('url = "mllp://127.0.0.1:2575"', 'url = "mllp://127.0.0.1"', "endpoints.hl7.url", "port"),
        (
            '"child-protection-flag", "travel-alert"',
            '"child-protection-flags"',
            "endpoints.sandbox.artefacts",
            "did you mean 'child-protection-flag'",
        ),
        ('push_mode = "resources"', 'push_mode = "batch"', "endpoints.sandbox.push_mode", ""),
        (
            'write = "conditional"',
            'write = "put"',
            "endpoints.sandbox.write",
            "auto, client-ids, conditional, create",
        ),
        ("timeout = 5", "timeout = 0", "endpoints.sandbox.timeout", "more than 0"),
        ('type = "signed-jwt"', 'type = "jwt"', "endpoints.cpis-int.auth.type", "signed-jwt"),
        ('kid = "int-1"', "", "endpoints.cpis-int.auth.kid", "missing"),
        (
            "assertion_lifetime = 120",
            "assertion_lifetime = 600",
            "endpoints.cpis-int.auth.assertion_lifetime",
            "at most 300",
        ),
        (
            '{ env = "TEST_TRUST_TOKEN" }',
            f'"{TRUST_TOKEN}"',
            "endpoints.trust.auth.token",
            '{ env = "NAME" }',
        ),
        ('ods_code = "x26"', 'ods_code = "?"', "endpoints.cpis-int.ods_code", "ODS code"),
        ('workflow_id = "TEST_POLICE"', 'workflow_id = "A*"', "endpoints.police.workflow_id", ""),
        ('path = "out"', 'path = "out"\nurl = "http://x"', "endpoints.outbox.url", "folder"),
        ("[endpoints.trust]", '[endpoints."tr ust"]', "endpoints.tr ust", "endpoint name"),
        ('partners = ["RR8", "P26"]', 'partners = ["RR9"]', "directory.X26.partners", "RR9"),
        ('endpoints = ["police"]', 'endpoints = ["polce"]', "directory.P26.endpoints", "polce"),
        ('role = "police"', 'role = "fire"', "directory.P26.role", "local-authority"),
        ("[directory.RR8]", "[directory.rr8]", "directory.rr8", "upper case"),
        ('role = "health"', 'role = "health"\npartners = ["X26"]', "directory.RR8.partners", ""),
        ('user = "duty.manager"', 'usr = "duty.manager"', "audit.usr", "did you mean 'user'"),
    ],
)
def test_each_endpoint_mistake_names_its_key(
    endpoints_dir: Path, old: str, new: str, path: str, words: str
) -> None:
    assert old in ENDPOINTS
    error = endpoints_error(endpoints_dir, ENDPOINTS.replace(old, new, 1))
    assert path in error.paths, error.paths
    assert words in str(error)


def test_private_key_must_be_pem(endpoints_dir: Path) -> None:
    (endpoints_dir / "secrets" / "jwt.pem").write_text("not a key\n", encoding="utf-8")
    (endpoints_dir / "secrets" / "jwt.pem").chmod(0o600)
    error = endpoints_error(endpoints_dir, ENDPOINTS)
    assert error.paths == ("endpoints.cpis-int.auth.private_key",)
    assert "not a key" not in str(error)


def test_production_endpoint_guards(endpoints_dir: Path) -> None:
    production = ENDPOINTS.replace('name = "test"', 'name = "production"')
    # plain http to loopback (the sandbox at 127.0.0.1) is allowed; anywhere else it is not
    assert load_endpoints(endpoints_dir, production).endpoint("sandbox").url.startswith("http:")
    off_machine = production.replace("http://127.0.0.1:8080/fhir/", "http://fhir.example.org")
    error = endpoints_error(endpoints_dir, off_machine)
    assert error.paths == ("endpoints.sandbox.url",)
    assert "production traffic off this machine needs an https:// endpoint" in str(error)
    no_tls = production.replace('url = "http://127.0.0.1:8080/fhir/"', 'url = "https://a.test"')
    no_tls = no_tls.replace(
        'kind = "fhir"\nurl = "https://fhir.trust',
        'kind = "fhir"\nverify_tls = false\nurl = "https://fhir.trust',
    )
    assert error_paths(endpoints_dir, no_tls) == ("endpoints.trust.verify_tls",)


def test_a_plain_http_token_url_is_refused_by_default(endpoints_dir: Path) -> None:
    # only the token URL is plain http: nothing else for the production default to refuse
    undeclared = ENDPOINTS.replace('[environment]\nname = "test"\n', "")
    undeclared = undeclared.replace('url = "http://127.0.0.1:8080/fhir/"', 'url = "https://a.test"')
    assert "http://" not in undeclared
    plain_token = undeclared.replace(
        'token_url = "https://int.api.example/oauth2/token"',
        'token_url = "http://int.api.example/oauth2/token"',
    )
    error = endpoints_error(endpoints_dir, plain_token)
    assert error.paths == ("endpoints.cpis-int.auth.token_url",)
    assert "production traffic off this machine needs an https:// URL" in str(error)
    assert 'add [environment] name = "test" for a test environment' in str(error)
    declared = '[environment]\nname = "test"\n' + plain_token
    token_url = load_endpoints(endpoints_dir, declared).endpoint("cpis-int").auth
    assert isinstance(token_url, SignedJwtSettings)
    assert token_url.token_url.startswith("http://")


def test_tls_policy_for_token_urls_and_nhs_hosts(endpoints_dir: Path) -> None:
    production = ENDPOINTS.replace('name = "test"', 'name = "production"')
    production = production.replace('url = "http://127.0.0.1:8080/fhir/"', 'url = "https://a.test"')
    plain_token = production.replace(
        'token_url = "https://int.api.example/oauth2/token"',
        'token_url = "http://int.api.example/oauth2/token"',
    )
    assert error_paths(endpoints_dir, plain_token) == ("endpoints.cpis-int.auth.token_url",)
    # in a test environment too: never unverified TLS towards an nhs.uk host
    to_nhs = ENDPOINTS.replace(
        'kind = "fhir"\nurl = "https://fhir.trust.example/R4"',
        'kind = "fhir"\nverify_tls = false\nurl = "https://sandbox.api.service.nhs.uk/R4"',
    )
    assert to_nhs != ENDPOINTS
    error = endpoints_error(endpoints_dir, to_nhs)
    assert error.paths == ("endpoints.trust.verify_tls",)
    assert "nhs.uk" in str(error)


LOOPBACK_URLS = (
    "http://127.0.0.1:8080/fhir",
    "http://127.8.9.10/fhir",
    "http://localhost:8080/fhir",
    "http://LOCALHOST./fhir",
    "http://[::1]:8080/fhir",
)
#: look like loopback, but are not: plain http to them leaves the machine (or may)
NOT_LOOPBACK_URLS = (
    "http://127.0.0.1.example.org/fhir",
    "http://localhost.example.org/fhir",
    "http://0.0.0.0:8080/fhir",
    "http://[::ffff:127.0.0.1]/fhir",
    "http://192.0.2.10/fhir",
    "http://fhir.example.org/fhir",
)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [(url, True) for url in LOOPBACK_URLS] + [(url, False) for url in NOT_LOOPBACK_URLS],
)
def test_in_production_plain_http_goes_only_to_loopback(
    endpoints_dir: Path, url: str, allowed: bool
) -> None:
    """The same rule for a FHIR endpoint, a token URL and a MESH URL."""
    production = ENDPOINTS.replace('name = "test"', 'name = "production"')
    production = production.replace("http://127.0.0.1:8080/fhir/", url)
    production = production.replace("https://int.api.example/oauth2/token", f"{url}/token")
    mesh = f'[mesh]\nendpoint = "{url}"\nmailbox = "x26la0001"\n'
    mesh += 'password = { env = "TEST_API_KEY" }\nshared_key = { env = "TEST_API_KEY" }\n\n'
    text = production.replace("[endpoints.sandbox]", mesh + "[endpoints.sandbox]")
    paths = ("endpoints.sandbox.url", "endpoints.cpis-int.auth.token_url", "mesh.endpoint")
    if allowed:
        config = load_config(write(endpoints_dir, text), need=("endpoints", "mesh"))
        assert config.endpoint("sandbox").url == url.rstrip("/")
        assert config.mesh.endpoint == url
    else:
        assert set(error_paths(endpoints_dir, text)) == set(paths)
    # a test environment takes plain http anywhere
    test = text.replace('name = "production"', 'name = "test"')
    assert load_config(write(endpoints_dir, test), need=("endpoints", "mesh")).mesh.endpoint == url


def test_unverified_tls_is_warned_about_on_every_run(caplog: pytest.LogCaptureFixture) -> None:
    from interop.config import EndpointSettings
    from interop.transport.fhir_client import FhirClient

    settings = EndpointSettings(
        name="partner", kind="fhir", url="https://fhir.partner.test", verify_tls=False
    )
    with caplog.at_level(logging.WARNING, logger="interop.transport.fhir"):
        for _ in range(2):
            FhirClient.from_settings(settings).close()
    warned = [r for r in caplog.records if "NOT verified" in r.getMessage()]
    assert len(warned) == 2


def error_paths(directory: Path, text: str) -> tuple[str, ...]:
    return endpoints_error(directory, text).paths


def test_example_endpoints_load_without_the_mesh_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MESH_MAILBOX_PASSWORD", "MESH_SHARED_KEY", "MESH_CLIENT_CERT", "MESH_CLIENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = load_config(EXAMPLE, need=("endpoints", "directory"))
    assert config.mesh_settings is None
    assert config.endpoint("sandbox").url == "http://127.0.0.1:8080/fhir"
    assert config.directory["X99"].endpoints == ("sandbox",)


# --- the reader's layering ------------------------------------------------------------------


def _imported_by(statement: str) -> set[str]:
    """The interop modules a fresh interpreter has loaded after ``statement``."""
    import subprocess
    import sys

    listing = "print(*sorted(m for m in sys.modules if m.startswith('interop')))"
    code = f"import sys\n{statement}\n{listing}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT / "tests"
    )
    return set(done.stdout.split())


def test_the_configuration_imports_no_service_and_no_transport() -> None:
    loaded = _imported_by("import interop.config")
    assert "interop.config.attendance" in loaded  # [attendance] is read by the config package
    upward = ("interop.attendance", "interop.transport", "interop.cli", "interop.sandbox")
    assert not [m for m in loaded if m.startswith(upward)], loaded


def test_transports_import_the_configuration_only_for_typing() -> None:
    loaded = _imported_by(
        "import interop.transport.mesh, interop.transport.auth, interop.transport.fhir_client,"
        " interop.transport.directory"
    )
    assert not [m for m in loaded if m.startswith("interop.config")], loaded


def test_settings_built_in_code_are_trusted_and_replaceable(endpoints_dir: Path) -> None:
    from dataclasses import replace

    from interop.config import EndpointSettings

    # `--endpoint URL` builds settings named by the URL, which no file could name
    adhoc = EndpointSettings(name="http://127.0.0.1:9/fhir", kind="fhir", url="http://x/fhir")
    assert adhoc.push_mode == "transaction"
    sandbox = load_endpoints(endpoints_dir, ENDPOINTS).endpoint("sandbox")
    assert replace(sandbox, ods_code="X26").ods_code == "X26"
    jwt = load_endpoints(endpoints_dir, ENDPOINTS).endpoint("cpis-int").auth
    assert isinstance(jwt, SignedJwtSettings)
    assert jwt.type == "signed-jwt"
    bearer = BearerAuthSettings(Secret("env:T", "abc"))
    assert (bearer.type, bearer.token.value) == ("bearer", "abc")
    assert "abc" not in repr(bearer)


def test_auth_type_is_located_at_its_key(endpoints_dir: Path) -> None:
    for value, words in (('""', "must not be empty"), ("3", "expected a string, found an integer")):
        text = ENDPOINTS.replace('type = "signed-jwt"', f"type = {value}")
        error = endpoints_error(endpoints_dir, text)
        assert error.paths == ("endpoints.cpis-int.auth.type",)
        assert words in str(error)


def test_a_secret_file_others_can_read_is_refused_with_the_fix(config_dir: Path) -> None:
    shared_key = config_dir / "secrets" / "shared_key"
    shared_key.chmod(0o644)
    error = error_of(config_dir, VALID)
    assert error.paths == ("mesh.shared_key",)
    assert f"chmod 600 {shared_key}" in str(error)
    assert SHARED_KEY not in str(error)
    shared_key.chmod(0o640)  # the group alone is still too many
    assert "can be read by others" in str(error_of(config_dir, VALID))
