//! Durations and sizes as people type and read them: `90d`, `36h`, `7y`
//! (humantime's units; a year is 365.25 days, a month 30.44 days) and
//! `10GiB`, `500MB`, `1048576` (KiB/MiB/GiB/TiB are powers of 1024,
//! KB/MB/GB/TB powers of 1000, no unit is bytes).

use std::time::Duration;

use crate::fail::Failure;

/// Milliseconds in humantime's year (365.25 days).
const YEAR_MS: u64 = 31_557_600_000;

/// A positive duration given to `--flag`.
///
/// # Errors
/// A usage failure quoting the flag and the text.
pub fn parse_duration(flag: &str, text: &str) -> Result<Duration, Failure> {
    match humantime::parse_duration(text.trim()) {
        Ok(d) if d.is_zero() => Err(Failure::usage(format!(
            "--{flag} {text:?}: must not be zero"
        ))),
        Ok(d) => Ok(d),
        Err(e) => Err(Failure::usage(format!(
            "--{flag} {text:?}: {e} (write a duration such as 90d, 36h or 7y)"
        ))),
    }
}

/// A positive size given to `--flag`.
///
/// # Errors
/// A usage failure quoting the flag and the text.
pub fn parse_bytes(flag: &str, text: &str) -> Result<u64, Failure> {
    let bad = |why: &str| Failure::usage(format!("--{flag} {text:?}: {why}"));
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "tib" | "t" => 1 << 40,
        _ => {
            return Err(bad(
                "unknown unit: use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB",
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| bad("expected a number and a unit, such as 10GiB"))?;
    let bytes = value * scale as f64;
    if !(1.0..1.8e19).contains(&bytes) {
        return Err(bad("must be between 1 byte and 16 EiB"));
    }
    Ok(bytes.round() as u64)
}

/// `none` (or `off`) as `None`, anything else through `parse`.
///
/// # Errors
/// As `parse`.
pub fn or_none<T>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, Failure>,
) -> Result<Option<T>, Failure> {
    match text.trim() {
        "none" | "off" => Ok(None),
        _ => parse(text).map(Some),
    }
}

/// Milliseconds in the largest unit that holds them whole: `7y`, `90d`,
/// `36h`, `15m`, `40s`, else `250ms`.
pub fn human_ms(ms: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (YEAR_MS, "y"),
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| ms >= *size && ms.is_multiple_of(*size))
        .map_or_else(
            || format!("{ms}ms"),
            |(size, unit)| format!("{}{unit}", ms / size),
        )
}

/// Bytes in the largest binary unit that holds them whole (`10 GiB`), else
/// as a separated number (`1,234,567 bytes`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
    ];
    match UNITS
        .iter()
        .find(|(size, _)| n >= *size && n.is_multiple_of(*size))
    {
        Some((size, unit)) => format!("{} {unit}", n / size),
        None => format!("{} bytes", crate::output::thousands(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_days_and_years() {
        assert_eq!(
            parse_duration("max-age", "90d").unwrap(),
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(
            parse_duration("lock", "7y").unwrap().as_millis(),
            7 * u128::from(YEAR_MS)
        );
        assert!(
            parse_duration("lock", "0s")
                .unwrap_err()
                .message
                .contains("--lock")
        );
        assert!(parse_duration("lock", "soon").is_err());
        assert_eq!(human_ms(7 * YEAR_MS), "7y");
        assert_eq!(human_ms(90 * 86_400_000), "90d");
        assert_eq!(human_ms(1500), "1500ms");
    }

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_bytes("max-bytes", "10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_bytes("max-bytes", "500 MB").unwrap(), 500_000_000);
        assert_eq!(parse_bytes("max-bytes", "1.5KiB").unwrap(), 1536);
        assert_eq!(parse_bytes("max-bytes", "4096").unwrap(), 4096);
        let err = parse_bytes("max-bytes", "10 parsecs").unwrap_err();
        assert!(err.message.contains("--max-bytes"), "{}", err.message);
        assert!(parse_bytes("max-bytes", "0").is_err());
        assert_eq!(or_none("none", |t| parse_bytes("x", t)).unwrap(), None);
        assert_eq!(human_bytes(10 << 30), "10 GiB");
        assert_eq!(human_bytes(1_234_567), "1,234,567 bytes");
    }
}
