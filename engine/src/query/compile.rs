//! Turning a [`Query`] into one tantivy query (the same for every segment),
//! and checking its full-text part first so that mistakes come back with
//! what is wrong and where.

use std::ops::Bound;

use tantivy::Term;
use tantivy::query::{
    AllQuery, BooleanQuery, InvertedIndexRangeQuery, Occur, PhraseQuery, Query as TantivyQuery,
    QueryParser, RangeQuery, TermQuery,
};
use tantivy::query_grammar::{
    Delimiter, UserInputAst, UserInputLeaf, UserInputLiteral, parse_query_lenient,
};
use tantivy::schema::IndexRecordOption;

use super::any_path::AnyPath;
use super::network::{self, IpFilter};
use super::{Filter, Query};
use crate::error::{Error, Result};
use crate::index::packed;
use crate::index::schema::{DETAILS, ExactField, Fields, MAX_WORD_BYTES, MESSAGE, tokenizers};

/// The tantivy query selecting what `query` selects (time range, filters,
/// text). The seq snapshot and the cursor are applied by the collectors.
///
/// # Errors
/// [`Error::InvalidQuery`] naming the part at fault.
pub(crate) fn compile(query: &Query, fields: &Fields) -> Result<Box<dyn TantivyQuery>> {
    query.check()?;
    let mut clauses: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
    if query.from.is_some() || query.to.is_some() {
        let bound = |t: Option<i64>, incl: bool| match t {
            None => Bound::Unbounded,
            Some(t) if incl => Bound::Included(Term::from_field_i64(fields.time, t)),
            Some(t) => Bound::Excluded(Term::from_field_i64(fields.time, t)),
        };
        clauses.push((
            Occur::Must,
            Box::new(RangeQuery::new(
                bound(query.from, true),
                bound(query.to, false),
            )),
        ));
    }
    for filter in &query.filters {
        let alternatives = filter
            .values
            .iter()
            .flat_map(|value| exact_value(filter.field, value, fields))
            .collect();
        clauses.push((Occur::Must, any_of(alternatives)));
    }
    if !query.text.trim().is_empty() {
        clauses.push((Occur::Must, parse_text(&query.text, fields)?));
    }
    Ok(if clauses.is_empty() {
        Box::new(AllQuery)
    } else {
        Box::new(BooleanQuery::new(clauses))
    })
}

/// The queries (any of them) for one value of a filter on `exact`: a
/// term, term ranges for a prefix (`git.*`), and for a network on
/// `actor.ip` (`10.0.0.0/8`), the range of its addresses too.
fn exact_value(exact: ExactField, value: &str, fields: &Fields) -> Vec<Box<dyn TantivyQuery>> {
    let field = fields.exact(exact);
    let term = |s: &str| Term::from_field_text(field, s);
    if exact == ExactField::ActorIp
        && let Ok(IpFilter::Network(net)) = network::ip_filter(value)
    {
        let (first, last) = network::network_range(&net);
        let address = |s: &str| Term::from_field_text(fields.ip_address, s);
        return vec![
            Box::new(TermQuery::new(term(value), IndexRecordOption::Basic)),
            Box::new(InvertedIndexRangeQuery::new(
                Bound::Included(address(&first)),
                Bound::Included(address(&last)),
            )),
        ];
    }
    let packs = exact.packs_terms();
    match value.strip_suffix('*') {
        Some(prefix) => {
            let ranges = if packs {
                packed::prefix_ranges(prefix)
            } else {
                let end = packed::successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
                vec![(Bound::Included(prefix.to_string()), end)]
            };
            ranges
                .into_iter()
                .map(|(lo, hi)| -> Box<dyn TantivyQuery> {
                    Box::new(InvertedIndexRangeQuery::new(
                        lo.as_ref().map(|s| term(s)),
                        hi.as_ref().map(|s| term(s)),
                    ))
                })
                .collect()
        }
        None if packs => vec![Box::new(TermQuery::new(
            term(&packed::term(value)),
            IndexRecordOption::Basic,
        ))],
        None => vec![Box::new(TermQuery::new(
            term(value),
            IndexRecordOption::Basic,
        ))],
    }
}

/// Parses the full-text part. Bare words search `message` and every string
/// in `details`; `message:word` and `details.a.b:value` search one field;
/// `actor.id:alice`, `action:git.*` or `actor.ip:10.0.0.0/8` match an
/// exact field as a filter with that value does ([`exact_value`]).
///
/// # Errors
/// [`Error::InvalidQuery`] for `text`, with the character position of a
/// syntax error or the unknown field.
pub(crate) fn parse_text(text: &str, fields: &Fields) -> Result<Box<dyn TantivyQuery>> {
    let (ast, errors) = parse_query_lenient(text);
    if let Some(error) = errors.first() {
        return Err(Error::query(
            "text",
            format!(
                "syntax error at character {}: {} (in `{text}`)",
                error.pos, error.message
            ),
        ));
    }
    if let Some((at, word)) = long_word(text) {
        return Err(Error::query(
            "text",
            format!(
                "the word at character {at} ({}…) is longer than {MAX_WORD_BYTES} bytes; words that long are not indexed, so it can match nothing",
                word.chars().take(16).collect::<String>()
            ),
        ));
    }
    let mut names = Vec::new();
    field_names(&ast, &mut names);
    for name in names {
        let known = name == MESSAGE
            || name
                .strip_prefix(DETAILS)
                .is_some_and(|rest| rest.starts_with('.'))
            || ExactField::from_query_name(&name).is_some();
        if !known {
            let at = text.find(&format!("{name}:")).unwrap_or(0);
            let exact: Vec<&str> = ExactField::ALL.iter().map(|f| f.name()).collect();
            return Err(Error::query(
                "text",
                format!(
                    "unknown field `{name}` at character {at}: full text searches `message` and `details.<path>`, and the exact fields {}",
                    exact.join(", ")
                ),
            ));
        }
    }
    let mut ast = leaves_checked(ast, text)?;
    if all_negative(&ast)
        && let UserInputAst::Clause(clauses) = &mut ast
    {
        // `-outcome:success` alone: everything but what it excludes (the
        // parser refuses a query of exclusions only).
        clauses.push((
            Some(Occur::Must),
            UserInputAst::Leaf(Box::new(UserInputLeaf::All)),
        ));
    }
    let mut parser = QueryParser::new(
        fields.parse_schema.clone(),
        vec![fields.message, fields.bare],
        tokenizers(),
    );
    parser.set_conjunction_by_default();
    let parsed = parser
        .build_query_from_user_input_ast(ast)
        .map_err(|e| Error::query("text", format!("{e} (in `{text}`)")))?;
    Ok(parse_only_replaced(parsed.as_ref(), fields))
}

/// `ast` without boosts (nothing is scored), after checking its leaves:
///
/// - every bare (field-less) part is a word, a phrase or `*`: ranges,
///   sets, regexes, phrase prefixes and slop are refused there, with what
///   to write instead, since bare words search strings under every path of
///   `details` ([`AnyPath`]), which only words and exact phrases do;
/// - every part on an exact field is a value or a set of them (`IN [a
///   b]`, made alternatives), each valid as a filter value
///   ([`Filter::check`]), and names the field by its index column, so
///   that the parser makes it a term of that field, which
///   [`parse_only_replaced`] turns into what a filter matches.
fn leaves_checked(ast: UserInputAst, text: &str) -> Result<UserInputAst> {
    let refuse = |what: &str| {
        Err(Error::query(
            "text",
            format!("{what} must name a field (`message:` or `details.<path>:`) (in `{text}`)"),
        ))
    };
    match ast {
        UserInputAst::Clause(clauses) => Ok(UserInputAst::Clause(
            clauses
                .into_iter()
                .map(|(occur, clause)| Ok((occur, leaves_checked(clause, text)?)))
                .collect::<Result<_>>()?,
        )),
        UserInputAst::Boost(inner, _) => leaves_checked(*inner, text),
        UserInputAst::Leaf(leaf) => match leaf.as_ref() {
            UserInputLeaf::Literal(UserInputLiteral {
                field_name: Some(name),
                ..
            })
            | UserInputLeaf::Range {
                field: Some(name), ..
            }
            | UserInputLeaf::Set {
                field: Some(name), ..
            }
            | UserInputLeaf::Regex {
                field: Some(name), ..
            }
            | UserInputLeaf::Exists { field: name } => match ExactField::from_query_name(name) {
                Some(exact) => {
                    let name = name.clone();
                    exact_leaf(exact, &name, *leaf, text)
                }
                None => Ok(UserInputAst::Leaf(leaf)),
            },
            UserInputLeaf::Literal(l) if l.field_name.is_none() && l.prefix => {
                refuse("a phrase prefix (`\"…\"*`)")
            }
            UserInputLeaf::Literal(l) if l.field_name.is_none() && l.slop > 0 => {
                refuse("a phrase with slop (`\"…\"~N`)")
            }
            UserInputLeaf::Range { field: None, .. } => refuse("a range"),
            UserInputLeaf::Set { field: None, .. } => refuse("a set (`IN [...]`)"),
            UserInputLeaf::Regex { field: None, .. } => refuse("a regex"),
            _ => Ok(UserInputAst::Leaf(leaf)),
        },
    }
}

/// Whether `ast` only excludes (`-a -b`, `-(a b)`), as tantivy's parser
/// judges it.
fn all_negative(ast: &UserInputAst) -> bool {
    match ast {
        UserInputAst::Leaf(_) => false,
        UserInputAst::Boost(inner, _) => all_negative(inner),
        UserInputAst::Clause(clauses) => clauses
            .iter()
            .all(|(occur, clause)| *occur == Some(Occur::MustNot) || all_negative(clause)),
    }
}

/// A leaf on the exact field `exact` (written `name`), checked and named
/// by the field's index column: a value, or a set of values made
/// alternatives.
fn exact_leaf(
    exact: ExactField,
    name: &str,
    leaf: UserInputLeaf,
    text: &str,
) -> Result<UserInputAst> {
    let refuse = |what: &str| {
        Err(Error::query(
            "text",
            format!(
                "`{name}:` takes a value (`{name}:x`, a prefix `{name}:x*`, or `{name}: IN [x y]`), not {what} (in `{text}`)"
            ),
        ))
    };
    let value = |phrase: String| -> Result<UserInputAst> {
        Filter {
            field: exact,
            values: vec![phrase.clone()],
        }
        .check()
        .map_err(|e| Error::query("text", format!("`{name}:{phrase}`: {e} (in `{text}`)")))?;
        Ok(UserInputAst::Leaf(Box::new(UserInputLeaf::Literal(
            UserInputLiteral {
                field_name: Some(exact.column().to_string()),
                phrase,
                delimiter: Delimiter::DoubleQuotes,
                slop: 0,
                prefix: false,
            },
        ))))
    };
    match leaf {
        UserInputLeaf::Literal(l) if l.slop > 0 => refuse("a phrase with slop"),
        UserInputLeaf::Literal(l) if l.prefix => refuse("a phrase prefix"),
        UserInputLeaf::Literal(l) => value(l.phrase),
        UserInputLeaf::Set { elements, .. } if elements.is_empty() => refuse("an empty set"),
        UserInputLeaf::Set { elements, .. } => Ok(UserInputAst::Clause(
            elements
                .into_iter()
                .map(|e| Ok((Some(Occur::Should), value(e)?)))
                .collect::<Result<_>>()?,
        )),
        UserInputLeaf::Range { .. } => refuse("a range"),
        UserInputLeaf::Regex { .. } => refuse("a regex"),
        _ => refuse("`*`"),
    }
}

/// A query matching what any of `alternatives` matches.
fn any_of(mut alternatives: Vec<Box<dyn TantivyQuery>>) -> Box<dyn TantivyQuery> {
    if alternatives.len() == 1 {
        return alternatives.remove(0);
    }
    Box::new(BooleanQuery::new(
        alternatives
            .into_iter()
            .map(|q| (Occur::Should, q))
            .collect(),
    ))
}

/// `query` with every word and phrase of the parse-only bare field
/// replaced by the same words in any string of `details`, and every term
/// of an exact field by what a filter with that value matches.
fn parse_only_replaced(query: &dyn TantivyQuery, fields: &Fields) -> Box<dyn TantivyQuery> {
    if let Some(boolean) = query.downcast_ref::<BooleanQuery>() {
        return Box::new(BooleanQuery::new(
            boolean
                .clauses()
                .iter()
                .map(|(occur, clause)| (*occur, parse_only_replaced(clause.as_ref(), fields)))
                .collect(),
        ));
    }
    if let Some(term) = query.downcast_ref::<TermQuery>()
        && let Some(exact) = ExactField::ALL
            .into_iter()
            .find(|f| fields.exact(*f) == term.term().field())
    {
        let value = term.term().value().as_str().unwrap_or_default().to_string();
        return any_of(exact_value(exact, &value, fields));
    }
    let words: Vec<Term> = if let Some(term) = query.downcast_ref::<TermQuery>() {
        vec![term.term().clone()]
    } else if let Some(phrase) = query.downcast_ref::<PhraseQuery>() {
        // Slop is refused on bare phrases and no query word is dropped
        // (too long a word is an error), so the words are consecutive.
        phrase.phrase_terms()
    } else {
        Vec::new()
    };
    if words.is_empty() || words.iter().any(|t| t.field() != fields.bare) {
        return query.box_clone();
    }
    let words = words
        .iter()
        .filter_map(|t| t.value().as_str().map(str::to_string))
        .collect();
    Box::new(AnyPath::new(fields.details, words, 0))
}

/// The first word (run of letters and digits, as the analyzer splits) of
/// more than [`MAX_WORD_BYTES`], with its character position.
fn long_word(text: &str) -> Option<(usize, &str)> {
    let mut start = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s > MAX_WORD_BYTES {
                    return Some((text[..s].chars().count(), &text[s..i]));
                }
                start = None;
            }
            _ => {}
        }
    }
    None
}

/// The field names a parsed text query mentions.
fn field_names(ast: &UserInputAst, out: &mut Vec<String>) {
    match ast {
        UserInputAst::Clause(clauses) => {
            for (_, clause) in clauses {
                field_names(clause, out);
            }
        }
        UserInputAst::Boost(inner, _) => field_names(inner, out),
        UserInputAst::Leaf(leaf) => {
            let name = match leaf.as_ref() {
                UserInputLeaf::Literal(literal) => literal.field_name.clone(),
                UserInputLeaf::All => None,
                UserInputLeaf::Range { field, .. }
                | UserInputLeaf::Set { field, .. }
                | UserInputLeaf::Regex { field, .. } => field.clone(),
                UserInputLeaf::Exists { field } => Some(field.clone()),
            };
            out.extend(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{ExactField, Order};

    #[test]
    fn text_errors_say_what_and_where() {
        let fields = Fields::new();
        let err = parse_text("alice AND (bob", &fields)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("invalid query text: syntax error at character"),
            "{err}"
        );
        let err = parse_text("deleted tenant_id:acme", &fields)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `tenant_id` at character 8")
                && err.contains("the exact fields tenant, actor.id, actor.ip"),
            "{err}"
        );
        parse_text("message:deleted details.branch:main", &fields).unwrap();
        parse_text(
            "tenant:acme actor:alice action:git.* -outcome:success actor.ip:10.0.0.0/8",
            &fields,
        )
        .unwrap();
    }

    #[test]
    fn exact_fields_in_text_take_what_filters_take() {
        let fields = Fields::new();
        for (text, says) in [
            (
                "actor.ip:10.0.0.0/33",
                "`actor.ip:10.0.0.0/33`: invalid query filter actor.ip: `10.0.0.0/33` is not a network",
            ),
            ("action:*", "`action:` takes a value"),
            ("outcome:[a TO b]", "not a range"),
            ("actor.id:/al.*/", "not a regex"),
            ("actor.id:\"alice\"~2", "not a phrase with slop"),
            (
                "action:\"\"",
                "`action:`: invalid query filter action: `` matches everything",
            ),
        ] {
            let err = parse_text(text, &fields).unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn bad_limits_and_filters_are_named() {
        let fields = Fields::new();
        for (query, what) in [
            (
                Query {
                    limit: 0,
                    ..Query::default()
                },
                "limit",
            ),
            (
                Query {
                    limit: 10_001,
                    ..Query::default()
                },
                "limit",
            ),
            (
                Query {
                    from: Some(5),
                    to: Some(1),
                    ..Query::default()
                },
                "time range",
            ),
            (
                Query::default().filter(ExactField::Action, &["*"]),
                "filter action",
            ),
        ] {
            let err = compile(&query, &fields).unwrap_err().to_string();
            assert!(err.starts_with(&format!("invalid query {what}")), "{err}");
        }
        compile(
            &Query {
                order: Order::OldestFirst,
                ..Query::default()
            },
            &fields,
        )
        .unwrap();
    }
}
