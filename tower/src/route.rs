//! Route templates (`/workflows/{id}`): matching a request path against
//! one, and naming a call's action and resource from it.
//!
//! A call is named from its template, in this order: the template axum
//! matched (`MatchedPath`), the first configured route that matches the
//! path, or a template inferred from the path itself, where segments that
//! look like ids (digits, UUIDs, long alphanumerics with a digit) stand for
//! `{id}`. The resource is the last parameter and the literal before it;
//! the verb is the method's (`POST` create, `PUT`/`PATCH` update, `DELETE`
//! delete, `GET`/`HEAD` read), or the literal after the last parameter when
//! it is not a plural noun (`POST /workflows/{id}/trigger` is
//! `workflow.trigger`). gRPC paths (`/pkg.Service/Method`) are named
//! `pkg.Service.Method`.

use http::Method;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches itself.
    Literal(String),
    /// `{name}`: matches any one segment.
    Param(String),
    /// `{*name}`: matches the rest of the path, one segment or more.
    Rest(String),
}

/// A parsed route template such as `/workflows/{id}` or `/files/{*path}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    segments: Vec<Segment>,
}

impl Template {
    /// Parses `/a/{b}/c`; `{*rest}` matches the rest of the path.
    #[must_use]
    pub fn parse(text: &str) -> Template {
        let segments = split(text)
            .map(
                |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => match name.strip_prefix('*') {
                        Some(rest) => Segment::Rest(rest.to_string()),
                        None => Segment::Param(name.to_string()),
                    },
                    None => Segment::Literal(s.to_string()),
                },
            )
            .collect();
        Template {
            text: text.to_string(),
            segments,
        }
    }

    /// The template as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parameters' values when `path` matches, in template order.
    #[must_use]
    pub fn matches(&self, path: &str) -> Option<Vec<String>> {
        let parts: Vec<&str> = split(path).collect();
        let mut values = Vec::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest(_) => {
                    return (parts.len() > i).then(|| {
                        values.push(parts[i..].join("/"));
                        values
                    });
                }
                Segment::Literal(lit) => {
                    if parts.get(i) != Some(&lit.as_str()) {
                        return None;
                    }
                }
                Segment::Param(_) => values.push((*parts.get(i)?).to_string()),
            }
        }
        (parts.len() == self.segments.len()).then_some(values)
    }

    /// The template of a path with no known template: id-like segments
    /// become `{id}`.
    #[must_use]
    pub fn infer(path: &str) -> Template {
        let text: Vec<&str> = split(path)
            .map(|s| if looks_like_id(s) { "{id}" } else { s })
            .collect();
        Template::parse(&format!("/{}", text.join("/")))
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// Digits, a UUID, or 16+ characters of letters, digits, `-` and `_` with
/// at least one digit.
fn looks_like_id(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    digits == segment.len()
        || (digits > 0
            && segment.len() >= 16
            && segment
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        || uuid::Uuid::try_parse(segment).is_ok()
}

/// What a call did, as the event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// `workflow.update`.
    pub action: String,
    /// The verb alone: `update`.
    pub verb: String,
    /// `workflow`; empty when the path names none.
    pub kind: String,
    /// `42`; empty when the path names none.
    pub id: String,
}

/// Names the call `method path` made through `template`.
#[must_use]
pub fn name(method: &Method, template: &Template, path: &str) -> Named {
    if let Some(grpc) = grpc_action(path) {
        return Named {
            verb: grpc.rsplit('.').next().unwrap_or_default().to_string(),
            action: grpc,
            kind: String::new(),
            id: String::new(),
        };
    }
    let values = template.matches(path).unwrap_or_default();
    let last_param = template
        .segments
        .iter()
        .rposition(|s| !matches!(s, Segment::Literal(_)));
    let literal_at = |i: usize| match template.segments.get(i) {
        Some(Segment::Literal(lit)) => Some(word(lit)),
        _ => None,
    };
    let (kind, id, trailing) = match last_param {
        Some(at) => {
            let kind = at.checked_sub(1).and_then(literal_at).unwrap_or_default();
            let id = values.last().cloned().unwrap_or_default();
            let trailing = literal_at(template.segments.len() - 1)
                .filter(|_| template.segments.len() - 1 > at);
            (singular(&kind), id, trailing)
        }
        None => {
            let kind = template
                .segments
                .len()
                .checked_sub(1)
                .and_then(literal_at)
                .unwrap_or_default();
            (singular(&kind), String::new(), None)
        }
    };
    let (kind, id, verb) = match trailing {
        // `/workflows/{id}/steps`: a step of workflow 42.
        Some(noun) if singular(&noun) != noun => {
            (singular(&noun), String::new(), method_verb(method))
        }
        // `/workflows/{id}/trigger`: an action on workflow 42.
        Some(verb) => (kind, id, verb),
        None => (kind, id, method_verb(method)),
    };
    let action = if kind.is_empty() {
        format!("http.{verb}")
    } else {
        format!("{kind}.{verb}")
    };
    Named {
        action,
        verb,
        kind,
        id,
    }
}

/// `stele.v1.Admin.CreateLog` from `/stele.v1.Admin/CreateLog` (gRPC
/// names have no `-`).
fn grpc_action(path: &str) -> Option<String> {
    let mut parts = split(path);
    let (service, method) = (parts.next()?, parts.next()?);
    let action = format!("{service}.{method}");
    (parts.next().is_none()
        && service.contains('.')
        && !action.contains('-')
        && is_dotted_verb(&action))
    .then_some(action)
}

/// Whether `action` is what Stele accepts as one: segments of letters,
/// digits, `_` and `-`, separated by single dots (`workflow.update`).
pub(crate) fn is_dotted_verb(action: &str) -> bool {
    action.split('.').all(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// A literal as an action segment: lowercase, `-` and other punctuation as
/// `_`.
fn word(literal: &str) -> String {
    literal
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn singular(noun: &str) -> String {
    if let Some(stem) = noun.strip_suffix("ies") {
        format!("{stem}y")
    } else if noun.ends_with("ss") || noun.ends_with("us") {
        noun.to_string()
    } else if let Some(stem) = noun
        .strip_suffix("es")
        .filter(|s| s.ends_with("sh") || s.ends_with("ch") || s.ends_with('x'))
    {
        stem.to_string()
    } else {
        noun.strip_suffix('s').unwrap_or(noun).to_string()
    }
}

fn method_verb(method: &Method) -> String {
    match *method {
        Method::POST => "create",
        Method::PUT | Method::PATCH => "update",
        Method::DELETE => "delete",
        Method::GET | Method::HEAD => "read",
        _ => return word(method.as_str()),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_paths() {
        let tpl = Template::parse("/orgs/{org}/workflows/{id}");
        assert_eq!(
            tpl.matches("/orgs/acme/workflows/42"),
            Some(vec!["acme".into(), "42".into()])
        );
        assert_eq!(
            tpl.matches("/orgs/acme/workflows/42/"),
            Some(vec!["acme".into(), "42".into()])
        );
        assert_eq!(tpl.matches("/orgs/acme/workflows"), None);
        assert_eq!(tpl.matches("/orgs/acme/workflows/42/runs"), None);
        assert_eq!(tpl.matches("/orgs/acme/hooks/42"), None);
        let rest = Template::parse("/files/{*path}");
        assert_eq!(rest.matches("/files/a/b.txt"), Some(vec!["a/b.txt".into()]));
        assert_eq!(rest.matches("/files"), None);
        assert_eq!(Template::parse("/health").matches("/health"), Some(vec![]));
    }

    #[test]
    fn calls_are_named_from_their_template() {
        for (method, template, path, action, kind, id) in [
            (
                Method::PUT,
                "/workflows/{id}",
                "/workflows/42",
                "workflow.update",
                "workflow",
                "42",
            ),
            (
                Method::PATCH,
                "/workflows/{id}",
                "/workflows/42",
                "workflow.update",
                "workflow",
                "42",
            ),
            (
                Method::DELETE,
                "/workflows/{id}",
                "/workflows/42",
                "workflow.delete",
                "workflow",
                "42",
            ),
            (
                Method::POST,
                "/workflows",
                "/workflows",
                "workflow.create",
                "workflow",
                "",
            ),
            (
                Method::GET,
                "/policies/{id}",
                "/policies/7",
                "policy.read",
                "policy",
                "7",
            ),
            (
                Method::POST,
                "/workflows/{id}/trigger",
                "/workflows/42/trigger",
                "workflow.trigger",
                "workflow",
                "42",
            ),
            (
                Method::POST,
                "/orgs/{org}/members",
                "/orgs/acme/members",
                "member.create",
                "member",
                "",
            ),
            (
                Method::DELETE,
                "/orgs/{org}/api-keys/{key}",
                "/orgs/acme/api-keys/k1",
                "api_key.delete",
                "api_key",
                "k1",
            ),
            (Method::POST, "/", "/", "http.create", "", ""),
            (
                Method::POST,
                "/x",
                "/stele.v1.Admin/CreateLog",
                "stele.v1.Admin.CreateLog",
                "",
                "",
            ),
        ] {
            let n = name(&method, &Template::parse(template), path);
            assert_eq!(
                (n.action.as_str(), n.kind.as_str(), n.id.as_str()),
                (action, kind, id),
                "{method} {path}"
            );
        }
    }

    #[test]
    fn id_like_segments_are_inferred_as_parameters() {
        assert_eq!(Template::infer("/workflows/42").as_str(), "/workflows/{id}");
        assert_eq!(
            Template::infer("/users/0190a3b4-8c1d-7e2f-9a3b-4c5d6e7f8a9b/keys").as_str(),
            "/users/{id}/keys"
        );
        assert_eq!(
            Template::infer("/orders/ord_2x9f8k3m1q7z4w5v").as_str(),
            "/orders/{id}"
        );
        assert_eq!(Template::infer("/v1/settings").as_str(), "/v1/settings");
    }
}
