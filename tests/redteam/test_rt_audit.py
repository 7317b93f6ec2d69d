"""Red team, environment audit: a variable passed in whose NAME looks secret is highlighted in
the audit (value masked, marked, and a warning), and --yes still launches. ANTHROPIC_API_KEY is
not passed in: claudebox's login relay keeps it and a placeholder enters, so it is neither
flagged nor shown, and the audit says no key is inside."""

from __future__ import annotations

from harness import Box

MARKERS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASS",
    "CREDENTIAL",
    "AUTH",
    "SESSION",
    "COOKIE",
    "PRIVATE",
)


def test_secret_looking_names_are_flagged_and_yes_still_launches(box: Box) -> None:
    secret_names = [f"MY_{marker}_VALUE" for marker in MARKERS] + ["lower_token"]
    plain = "MY_PLAIN_SETTING"
    env = {name: f"value-of-{name}" for name in [*secret_names, plain]}
    env["CLAUDEBOX_EXTRA_ENV"] = ",".join([*secret_names, plain])
    real_key = "sk-ant-api03-" + "k3y" * 30
    env["ANTHROPIC_API_KEY"] = real_key
    result = box.probe('echo launched; env | grep -c value-of-; echo "$ANTHROPIC_API_KEY"', env=env)
    assert result.returncode == 0, result.stderr
    launched, count, key = result.stdout.split()
    assert (launched, count) == ("launched", str(len(secret_names) + 1))
    assert key.startswith("sk-ant-api03-claudebox-") and "k3yk3y" not in key  # a placeholder
    audit = " ".join(result.stderr.split())  # wrapped lines joined (--yes: the summary)
    secrets = audit.split(" secrets ", 1)[1].split(" warning ", 1)[0]
    for name in secret_names:
        value = env[name]
        assert value not in audit
        assert f"{name} (CLAUDEBOX_EXTRA_ENV)" in secrets, name
        assert f"{name} looks like a secret and is passed in by CLAUDEBOX_EXTRA_ENV" in audit
    assert f"{plain} (" not in secrets
    assert "ANTHROPIC_API_KEY" not in secrets
    assert "ANTHROPIC_API_KEY looks like" not in audit
    # (so many warnings condense the plumbing to one line: the login line is shown without them)
    keyed = box.audit("true", env={"ANTHROPIC_API_KEY": real_key})
    assert "login via claudebox: no token or key inside" in keyed and "k3yk3y" not in keyed
    assert "k3yk3y" not in audit
    # --details shows every value, secret-looking ones masked.
    details = box.probe("true", env=env, options=("--details",)).stderr.splitlines()
    for name in secret_names:
        line = f"    {name}=<masked, {len(env[name])} chars>  [CLAUDEBOX_EXTRA_ENV]"
        assert line in details, name
    assert f"    {plain}=value-of-{plain}  [CLAUDEBOX_EXTRA_ENV]" in details
    key_line = "    ANTHROPIC_API_KEY=(set at launch: a placeholder, or the proxy's address)"
    assert f"{key_line}  [claudebox's login relay]" in details
    assert not [line for line in details if "k3yk3y" in line]
