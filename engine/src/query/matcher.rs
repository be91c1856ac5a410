//! Checking a stored record against a query's time range and exact filters.
//! Every search result passes this before it is returned, so a damaged or
//! stale index cannot make a search return a record that does not match the
//! segment data. (The full-text part is the index's word: it was computed
//! from these same bytes, and an index is bound to its segment's chain.)

use super::network::{self, IpFilter};
use super::{ExactField, Filter, Query};
use crate::event::Event;

/// Whether an event at `time` (its event time, or the ingest time of a
/// redacted record, whose `event` is `None`) satisfies the time range and
/// every filter of `query`.
pub fn matches(query: &Query, time: i64, event: Option<&Event>) -> bool {
    if query.from.is_some_and(|from| time < from) || query.to.is_some_and(|to| time >= to) {
        return false;
    }
    query.filters.iter().all(|filter| match event {
        Some(event) => filter_matches(filter, filter.field.value(event)),
        None => false,
    })
}

/// Whether `value` is one of the filter's values (a value ending in `*` is
/// a prefix; on `actor.ip`, a network such as `10.0.0.0/8` also matches
/// the addresses inside it); an absent (empty) value matches nothing.
pub fn filter_matches(filter: &Filter, value: &str) -> bool {
    !value.is_empty()
        && filter
            .values
            .iter()
            .any(|want| match want.strip_suffix('*') {
                Some(prefix) => value.starts_with(prefix),
                None if value == want => true,
                None if filter.field == ExactField::ActorIp => matches!(
                    network::ip_filter(want),
                    Ok(IpFilter::Network(net)) if network::contains(&net, value)
                ),
                None => false,
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_ranges_and_absent_values() {
        let event = Event {
            action: "git.push".into(),
            time: Some(10),
            ..Event::default()
        };
        let q = Query::default().filter(ExactField::Action, &["git.*", "user.login"]);
        assert!(matches(&q, 10, Some(&event)));
        assert!(!matches(
            &Query {
                from: Some(11),
                ..q.clone()
            },
            10,
            Some(&event)
        ));
        assert!(!matches(
            &Query {
                to: Some(10),
                ..q.clone()
            },
            10,
            Some(&event)
        ));
        assert!(!matches(&q, 10, None));
        let tenant = Query::default().filter(ExactField::Tenant, &["*x"]);
        assert!(!matches(&tenant, 10, Some(&event)));
    }
}
