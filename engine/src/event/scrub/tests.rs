use proptest::prelude::*;
use serde_json::json;

use super::*;

fn all() -> Scrubber {
    Scrubber::new(&ScrubPolicy {
        builtin: vec![ALL.into()],
        custom: Vec::new(),
    })
    .unwrap()
}

fn scrubbed(text: &str) -> (String, Fired) {
    let mut fired = Fired::new();
    let out = all()
        .scrub_str(text, &mut fired)
        .unwrap_or_else(|| text.to_string());
    (out, fired)
}

/// Each built-in rule: texts it must scrub (with what is left), and texts
/// it must leave alone.
#[allow(clippy::type_complexity)]
const CASES: &[(&str, &[(&str, &str)], &[&str])] = &[
    (
        "pem_private_key",
        &[
            (
                "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nIBAAK==\n-----END RSA PRIVATE KEY----- end",
                "key: [redacted:pem_private_key] end",
            ),
            (
                "pasted -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNz",
                "pasted [redacted:pem_private_key]",
            ),
        ],
        &[
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            "-----BEGIN PUBLIC KEY-----",
        ],
    ),
    (
        "authorization",
        &[
            (
                "Authorization: Bearer abc.def-ghi_123",
                "Authorization: Bearer [redacted:authorization]",
            ),
            (
                "authorization=Basic dXNlcjpwYXNz",
                "authorization=Basic [redacted:authorization]",
            ),
            (
                "curl -H 'Authorization: token 0123abcd'",
                "curl -H 'Authorization: token [redacted:authorization]'",
            ),
            (
                "sent bearer 8f14e45fceea167a5a36dedd4bea2543",
                "sent bearer [redacted:authorization]",
            ),
        ],
        &[
            "bearer authentication is required",
            "Basic authentication failed",
            "the authorization was denied",
        ],
    ),
    (
        "url_password",
        &[
            (
                "postgres://app:s3cr3t@db.internal:5432/prod",
                "postgres://app:[redacted:url_password]@db.internal:5432/prod",
            ),
            (
                "DATABASE_URL=mysql://root:hunter2@10.0.0.5/x",
                "DATABASE_URL=mysql://root:[redacted:url_password]@10.0.0.5/x",
            ),
        ],
        &[
            "https://example.com:8443/path",
            "mailto:alice@example.com",
            "ssh://git@github.com/org/repo",
        ],
    ),
    (
        "aws_access_key_id",
        &[(
            "key AKIAIOSFODNN7EXAMPLE used",
            "key [redacted:aws_access_key_id] used",
        )],
        &["AKIA is a prefix", "XAKIAIOSFODNN7EXAMPLEX"],
    ),
    (
        "aws_secret_access_key",
        &[(
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "aws_secret_access_key = [redacted:aws_secret_access_key]",
        )],
        &[
            "checksum wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY of the upload",
            "aws region: us-east-1",
        ],
    ),
    (
        "github_token",
        &[
            (
                "token ghp_abcdefghijklmnopqrstuvwxyz0123456789 leaked",
                "token [redacted:github_token] leaked",
            ),
            (
                "github_pat_11ABCDEFG0abcdefghij_klmnopqrstuvwxyzABCDEFGHIJ",
                "[redacted:github_token]",
            ),
        ],
        &["ghp_short", "the github_pat_ prefix"],
    ),
    (
        "slack_token",
        &[
            ("xoxb-123456789012-abcdefghijkl", "[redacted:slack_token]"),
            (
                "hook https://hooks.slack.com/services/T000/B000/XXXXXXXX",
                "hook [redacted:slack_token]",
            ),
        ],
        &["xox is not a token", "https://slack.com/services"],
    ),
    (
        "stripe_key",
        &[("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "[redacted:stripe_key]")],
        &["pk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_short"],
    ),
    (
        "google_api_key",
        &[(
            "key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
            "key=[redacted:google_api_key]",
        )],
        &["AIza too short"],
    ),
    (
        "jwt",
        &[(
            "cookie eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl here",
            "cookie [redacted:jwt] here",
        )],
        &["eyJ alone", "eyJhbGciOiJIUzI1NiJ9 only a header"],
    ),
    (
        "key_value",
        &[
            (
                "login password=hunter2 ok",
                "login password=[redacted:key_value] ok",
            ),
            (
                "GET /cb?code=1&client_secret=abc123&state=x",
                "GET /cb?code=1&client_secret=[redacted:key_value]&state=x",
            ),
            (
                r#"{"api_key": "k-123", "user": "bob"}"#,
                r#"{"api_key": "[redacted:key_value]", "user": "bob"}"#,
            ),
            ("csrf_token: f00ba4", "csrf_token: [redacted:key_value]"),
        ],
        &[
            "the token was rotated",
            "password reset requested",
            "token_type=bearer",
            "a secret santa",
            "monkey=banana",
        ],
    ),
    (
        "credit_card",
        &[
            (
                "paid with 4111 1111 1111 1111 today",
                "paid with [redacted:credit_card] today",
            ),
            ("card 5500-0000-0000-0004", "card [redacted:credit_card]"),
            ("amex 378282246310005", "amex [redacted:credit_card]"),
        ],
        &[
            "order 4111111111111112",
            "order id 1234567812345678",
            "ts 2026-12-05 07:10:42",
            "phone +1 415-555-0100",
            "ref 91111111111111111111111",
        ],
    ),
];

#[test]
fn every_builtin_rule_has_cases_and_each_case_holds() {
    for builtin in BUILTINS {
        assert!(
            CASES.iter().any(|(name, _, _)| *name == builtin.name),
            "{} has no cases",
            builtin.name
        );
    }
    for (name, hits, misses) in CASES {
        for (text, expected) in *hits {
            let (out, fired) = scrubbed(text);
            assert_eq!(&out, expected, "{name} on {text:?}");
            assert!(
                fired.contains_key(*name),
                "{name} fired on {text:?}: {fired:?}"
            );
        }
        for text in *misses {
            let (out, fired) = scrubbed(text);
            assert_eq!(&out, text, "{name} must leave {text:?} alone: {fired:?}");
        }
    }
}

#[test]
fn events_are_scrubbed_everywhere_and_say_what_fired() {
    let mut event = Event {
        action: "db.connect".into(),
        message: "connected with postgres://app:pw1@db/x".into(),
        reason: "Authorization: Bearer abcdefghijklmnop1234".into(),
        details: json!({
            "request": {"headers": {"authorization": "Basic dXNlcjpwYXNz", "accept": "*/*"}},
            "password": "hunter2",
            "nested": [{"note": "card 4111-1111-1111-1111"}, 7, null],
            "AKIAIOSFODNN7EXAMPLE": "a key as a key",
            "_scrubbed": {"rules": ["spoofed"]},
            "token_type": "bearer",
        })
        .as_object()
        .cloned(),
        ..Event::default()
    };
    event.actor.id = "AKIAIOSFODNN7EXAMPLE".into();
    let fired = all().apply(&mut event);
    assert_eq!(
        event.message,
        "connected with postgres://app:[redacted:url_password]@db/x"
    );
    assert_eq!(
        event.reason,
        "Authorization: Bearer [redacted:authorization]"
    );
    assert_eq!(
        event.actor.id, "AKIAIOSFODNN7EXAMPLE",
        "identifiers are not scanned"
    );
    let details = Value::Object(event.details.clone().unwrap());
    assert_eq!(
        details["request"]["headers"]["authorization"],
        "[redacted:key_value]"
    );
    assert_eq!(details["password"], "[redacted:key_value]");
    assert_eq!(details["nested"][0]["note"], "card [redacted:credit_card]");
    assert_eq!(details["[redacted:aws_access_key_id]"], "a key as a key");
    assert_eq!(details["token_type"], "bearer");
    assert_eq!(
        details["_scrubbed"],
        json!({
            "rules": ["authorization", "aws_access_key_id", "credit_card", "key_value", "url_password"],
            "counts": {"authorization": 1, "aws_access_key_id": 1, "credit_card": 1, "key_value": 2, "url_password": 1},
        })
    );
    assert_eq!(fired.values().sum::<u64>(), 6);
    // Again: nothing changes, nothing fires.
    let before = event.clone();
    let again = all().apply(&mut event);
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        event.details.as_ref().map(|d| d.len()),
        before.details.as_ref().map(|d| d.len() - 1)
    );
}

#[test]
fn an_event_with_nothing_to_scrub_is_unchanged() {
    let mut event = Event {
        action: "workflow.update".into(),
        message: "alice updated workflow 42".into(),
        details: json!({"workflow": {"id": 42, "cron": "0 3 * * *"}, "token_type": "bearer"})
            .as_object()
            .cloned(),
        ..Event::default()
    };
    let before = event.clone();
    assert!(all().apply(&mut event).is_empty());
    assert_eq!(event, before);
}

#[test]
fn custom_rules_are_named_and_checked() {
    let policy = |name: &str, pattern: &str| ScrubPolicy {
        builtin: vec!["jwt".into()],
        custom: vec![CustomRule {
            name: name.into(),
            pattern: pattern.into(),
        }],
    };
    let s = Scrubber::new(&policy(
        "employee_ssn",
        r"(?-u:\b)\d{3}-\d{2}-(?P<s>\d{4})(?-u:\b)",
    ))
    .unwrap();
    let mut fired = Fired::new();
    assert_eq!(
        s.scrub_str("ssn 123-45-6789 on file", &mut fired).unwrap(),
        "ssn 123-45-[redacted:employee_ssn] on file"
    );
    for (name, pattern, field) in [
        ("Bad Name", "x", "policy.scrub.custom[0].name"),
        ("jwt", "x", "policy.scrub.custom[0].name"),
        ("all", "x", "policy.scrub.custom[0].name"),
        ("ok", "(unclosed", "policy.scrub.custom[0].pattern"),
        ("ok", "a*", "policy.scrub.custom[0].pattern"),
    ] {
        let err = Scrubber::new(&policy(name, pattern))
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{name} {pattern}: {err}");
    }
    let err = Scrubber::new(&ScrubPolicy {
        builtin: vec!["jwt".into(), "passwords".into()],
        custom: Vec::new(),
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("policy.scrub.builtin[1]") && err.contains("key_value"),
        "{err}"
    );
}

#[test]
fn luhn_checks_card_numbers() {
    assert!(luhn("4111111111111111"));
    assert!(luhn("4111 1111 1111 1111"));
    assert!(!luhn("4111111111111112"));
    assert!(!luhn("411111111111"), "too short");
}

proptest! {
    #[test]
    fn strings_without_a_match_are_untouched_and_scrubbing_is_idempotent(
        text in "[ -~\n]{0,200}",
        secret in prop::sample::select(vec![
            "password=hunter2", "AKIAIOSFODNN7EXAMPLE", "4111 1111 1111 1111",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", "postgres://u:pw@h/db",
        ]),
        at in 0usize..200,
    ) {
        let s = all();
        let mut fired = Fired::new();
        match s.scrub_str(&text, &mut fired) {
            None => prop_assert!(fired.is_empty()),
            Some(once) => {
                prop_assert!(!fired.is_empty());
                prop_assert_ne!(&once, &text);
                let mut again = Fired::new();
                prop_assert_eq!(s.scrub_str(&once, &mut again), None);
            }
        }
        let at = at.min(text.len());
        let with_secret = format!("{} {secret} {}", &text[..at], &text[at..]);
        let mut fired = Fired::new();
        let once = s.scrub_str(&with_secret, &mut fired).expect("the secret is found");
        prop_assert!(!once.contains(secret));
        let mut again = Fired::new();
        prop_assert_eq!(s.scrub_str(&once, &mut again), None);
    }
}
