//! The built-in scrubbing rules: what each one finds, as a regular
//! expression whose group `s` (when it has one) is the secret itself, so
//! that `password=hunter2` keeps its key and becomes
//! `password=[redacted:key_value]`. Word boundaries are ASCII
//! (`(?-u:\b)`), which keeps every pattern on the regex crate's fast DFA.
//!
//! `docs/scrubbing.md` lists them with examples; the tests in `tests.rs`
//! hold a true and a false positive for each.

/// One built-in rule.
#[derive(Debug, Clone, Copy)]
pub struct Builtin {
    /// Its name, in the policy and in `[redacted:<name>]`.
    pub name: &'static str,
    /// What it finds.
    pub about: &'static str,
    /// The patterns (`{SECRET}` stands for the secret-looking names).
    pub patterns: &'static [&'static str],
    /// A check a match must also pass (the Luhn checksum for card numbers).
    pub check: Option<fn(&str) -> bool>,
}

/// Secret-looking names: a key, or the last `_`/`-` part of one.
pub const SECRET_NAMES: &str = r"(?:password|passwd|pwd|passphrase|secret|token|api_?key|apikey|access_?key|secret_?key|private_?key|client_?secret|credentials?)";

/// `details` keys whose string value is a secret: the names above, and
/// headers that carry credentials.
pub const SECRET_KEYS: &str = r"(?:password|passwd|pwd|passphrase|secret|token|api_?key|apikey|access_?key|secret_?key|private_?key|client_?secret|credentials?|authorization|cookie)";

/// Every built-in rule, in the order they are applied.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "pem_private_key",
        about: "PEM private key blocks (RSA, EC, OpenSSH, PKCS#8, encrypted), to the END line or the end of the string",
        patterns: &[
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)",
        ],
        check: None,
    },
    Builtin {
        name: "authorization",
        about: "credentials after `Authorization:` (Bearer, Basic, token, Digest), and bearer tokens of 16+ characters anywhere",
        patterns: &[
            r#"(?i)(?-u:\b)authorization["']?\s*[:=]\s*["']?(?:(?:bearer|basic|token|digest)\s+)?(?P<s>[A-Za-z0-9._~+/=-]+)"#,
            r"(?i)(?-u:\b)bearer\s+(?P<s>[A-Za-z0-9._~+/=-]{16,})",
        ],
        check: Some(not_a_scheme),
    },
    Builtin {
        name: "url_password",
        about: "the password of a URL's user info (`postgres://user:pw@host`)",
        patterns: &[r"(?i)(?-u:\b)[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<s>[^\s@/]+)@"],
        check: None,
    },
    Builtin {
        name: "aws_access_key_id",
        about: "AWS access key ids (AKIA…, ASIA…)",
        patterns: &[r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}(?-u:\b)"],
        check: None,
    },
    Builtin {
        name: "aws_secret_access_key",
        about: "a 40-character AWS secret access key after a name mentioning aws and secret or key",
        patterns: &[
            r#"(?i)aws[A-Za-z0-9_-]*(?:secret|key)[A-Za-z0-9_-]*["']?\s*[:=]\s*["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#,
        ],
        check: None,
    },
    Builtin {
        name: "github_token",
        about: "GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_)",
        patterns: &[
            r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
        ],
        check: None,
    },
    Builtin {
        name: "slack_token",
        about: "Slack tokens (xoxb-, xoxp-, xoxa-, …) and incoming webhook URLs",
        patterns: &[
            r"(?-u:\b)xox[abposr]-[A-Za-z0-9-]{10,250}|https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+",
        ],
        check: None,
    },
    Builtin {
        name: "stripe_key",
        about: "Stripe secret and restricted keys (sk_live_, rk_test_, …) and webhook secrets (whsec_)",
        patterns: &[
            r"(?-u:\b)(?:(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{10,247}|whsec_[0-9A-Za-z]{24,})(?-u:\b)",
        ],
        check: None,
    },
    Builtin {
        name: "google_api_key",
        about: "Google API keys (AIza…)",
        patterns: &[r"(?-u:\b)AIza[0-9A-Za-z_-]{35}"],
        check: None,
    },
    Builtin {
        name: "jwt",
        about: "JSON Web Tokens (three base64url parts, the first two JSON objects)",
        patterns: &[r"(?-u:\b)eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*"],
        check: None,
    },
    Builtin {
        name: "key_value",
        about: "values after secret-looking names in text, query strings and JSON in strings (`password=…`, `api_key: …`, `\"token\": \"…\"`); in `details`, the string value of a key with such a name",
        patterns: &[
            r#"(?i)(?-u:\b)(?:[A-Za-z0-9]+[_-])*{SECRET}["']?\s*[:=]\s*["']?(?P<s>[^\s"'&,;}\]]+)"#,
        ],
        check: None,
    },
    Builtin {
        name: "credit_card",
        about: "payment card numbers starting with 2 to 6 that pass the Luhn check: 13 to 19 digits, or 4-4-4-4 and American Express's 4-6-5 groups split by spaces or dashes",
        patterns: &[
            r"(?-u:\b)(?:[2-6][0-9]{12,18}|[2-6][0-9]{3}(?:[ -][0-9]{4}){3}|3[0-9]{3}[ -][0-9]{6}[ -][0-9]{5})(?-u:\b)",
        ],
        check: Some(luhn),
    },
];

/// Whether a credential after `Authorization:` is not its scheme's name
/// alone (`Authorization: Bearer [redacted:…]` scrubbed again).
fn not_a_scheme(candidate: &str) -> bool {
    !["bearer", "basic", "token", "digest"]
        .iter()
        .any(|s| candidate.eq_ignore_ascii_case(s))
}

/// Whether the digits of `candidate` pass the Luhn checksum.
pub fn luhn(candidate: &str) -> bool {
    let digits: Vec<u32> = candidate.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}
