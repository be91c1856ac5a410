//! The tantivy schema of a segment index, and how an event becomes a
//! document in it.
//!
//! Stored: nothing. `seq` and `time` are fast fields (a hit's seq is read
//! from its column, and results are then read from the segments); the exact
//! fields are raw terms, for filters, and all but the nearly unique ones
//! (`request_id`, `correlation_id`) also fast (dictionary-encoded) columns,
//! for counting; `message` and `details` are full text, `details` as a
//! JSON field so that `details.branch:main` works. Bare words search
//! `message` and every string of `details` whatever its path
//! ([`crate::query::any_path`]).
//!
//! The query parser works on a schema of its own: this one plus a
//! parse-only text field, [`BARE`], that stands for "every string of
//! `details`" in what it builds ([`crate::query::compile`] replaces it).

use tantivy::TantivyDocument;
use tantivy::schema::{
    FAST, Field, IndexRecordOption, JsonObjectOptions, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenizerManager,
};

use crate::event::{Event, Outcome};

/// Tantivy names of the fields that are not exact fields.
pub(crate) const SEQ: &str = "seq";
pub(crate) const TIME: &str = "time";
pub(crate) const MESSAGE: &str = "message";
pub(crate) const DETAILS: &str = "details";
/// `actor.ip` values that are IP addresses, by number, for network
/// filters ([`crate::query::network`]).
pub(crate) const ACTOR_IP_ADDRESS: &str = "actor_ip_address";
/// The parse-only field of bare words in `details` (not in the index).
pub(crate) const BARE: &str = "details_text";

/// Name of the text analyzer: words are runs of letters and digits,
/// lowercased; words of more than [`MAX_WORD_BYTES`] are not indexed.
pub(crate) const TOKENIZER: &str = "stele";
/// The longest word indexed (tantivy's own default stops short of 40, which
/// would lose the 40-character SHA-1 of a git commit).
pub const MAX_WORD_BYTES: usize = 255;

/// Tantivy's tokenizers plus Stele's text analyzer; every index and query
/// parser uses this.
pub(crate) fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(
        TOKENIZER,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_WORD_BYTES + 1))
            .filter(LowerCaser)
            .build(),
    );
    manager
}

/// A field that filters and aggregations match exactly (whole value, case
/// sensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExactField {
    /// `tenant`
    Tenant,
    /// `actor.id`
    ActorId,
    /// `actor.ip`
    ActorIp,
    /// `action`; filters also take a prefix form, `git.*`.
    Action,
    /// `resource.kind`
    ResourceKind,
    /// `resource.id`
    ResourceId,
    /// `outcome`: `success`, `failure`, `denied` or `unknown`.
    Outcome,
    /// `source`
    Source,
    /// `correlation_id`
    CorrelationId,
    /// `request_id`
    RequestId,
}

impl ExactField {
    /// Every exact field, in schema order.
    pub const ALL: [ExactField; 10] = [
        ExactField::Tenant,
        ExactField::ActorId,
        ExactField::ActorIp,
        ExactField::Action,
        ExactField::ResourceKind,
        ExactField::ResourceId,
        ExactField::Outcome,
        ExactField::Source,
        ExactField::CorrelationId,
        ExactField::RequestId,
    ];

    /// The field's name in the event schema and in queries: `actor.id`.
    pub fn name(self) -> &'static str {
        match self {
            ExactField::Tenant => "tenant",
            ExactField::ActorId => "actor.id",
            ExactField::ActorIp => "actor.ip",
            ExactField::Action => "action",
            ExactField::ResourceKind => "resource.kind",
            ExactField::ResourceId => "resource.id",
            ExactField::Outcome => "outcome",
            ExactField::Source => "source",
            ExactField::CorrelationId => "correlation_id",
            ExactField::RequestId => "request_id",
        }
    }

    /// The field named `name` (as [`ExactField::name`] spells it).
    pub fn from_name(name: &str) -> Option<ExactField> {
        ExactField::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field a text query names `name`: as [`ExactField::from_name`],
    /// and `actor` for `actor.id`.
    pub fn from_query_name(name: &str) -> Option<ExactField> {
        match name {
            "actor" => Some(ExactField::ActorId),
            name => ExactField::from_name(name),
        }
    }

    /// Whether the index keeps a fast column of this field. Fields whose
    /// values are nearly unique per event keep none: the column would cost
    /// as much as their terms again, and counting by them inverts their
    /// postings instead ([`super::values`]).
    pub(crate) fn has_column(self) -> bool {
        !matches!(self, ExactField::RequestId | ExactField::CorrelationId)
    }

    /// Whether the field's terms are [`super::packed`] (hex ids packed to
    /// their bits): the fields without a column, whose values are nearly
    /// unique, so their terms are most of their cost.
    pub(crate) fn packs_terms(self) -> bool {
        !self.has_column()
    }

    /// The tantivy field's name (no dots, which its query parser reads as
    /// JSON paths).
    pub(crate) fn column(self) -> &'static str {
        match self {
            ExactField::ActorId => "actor_id",
            ExactField::ActorIp => "actor_ip",
            ExactField::ResourceKind => "resource_kind",
            ExactField::ResourceId => "resource_id",
            other => other.name(),
        }
    }

    /// The event's value of this field; `""` when absent.
    pub fn value(self, event: &Event) -> &str {
        match self {
            ExactField::Tenant => &event.tenant,
            ExactField::ActorId => &event.actor.id,
            ExactField::ActorIp => &event.actor.ip,
            ExactField::Action => &event.action,
            ExactField::ResourceKind => &event.resource.kind,
            ExactField::ResourceId => &event.resource.id,
            ExactField::Outcome => event.outcome.map_or("", Outcome::as_str),
            ExactField::Source => &event.source,
            ExactField::CorrelationId => &event.correlation_id,
            ExactField::RequestId => &event.request_id,
        }
    }
}

impl std::fmt::Display for ExactField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The schema's field handles.
#[derive(Debug, Clone)]
pub(crate) struct Fields {
    pub schema: Schema,
    pub seq: Field,
    pub time: Field,
    pub exact: [Field; ExactField::ALL.len()],
    pub message: Field,
    pub details: Field,
    /// [`ACTOR_IP_ADDRESS`].
    pub ip_address: Field,
    /// The index's schema plus [`BARE`]: what the query parser reads.
    pub parse_schema: Schema,
    /// [`BARE`] in `parse_schema`.
    pub bare: Field,
}

impl Fields {
    /// Builds the schema (the same for every segment index).
    pub fn new() -> Fields {
        let mut builder = Schema::builder();
        let seq = builder.add_u64_field(SEQ, FAST);
        let time = builder.add_i64_field(TIME, FAST);
        // Nothing is scored, so no field keeps norms.
        let raw = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        );
        let exact = ExactField::ALL.map(|f| {
            let options = if f.has_column() {
                raw.clone().set_fast("raw")
            } else {
                raw.clone()
            };
            builder.add_text_field(f.column(), options)
        });
        let ip_address = builder.add_text_field(ACTOR_IP_ADDRESS, raw);
        let text = TextFieldIndexing::default()
            .set_tokenizer(TOKENIZER)
            .set_fieldnorms(false)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let message = builder.add_text_field(
            MESSAGE,
            TextOptions::default().set_indexing_options(text.clone()),
        );
        let details = builder.add_json_field(
            DETAILS,
            JsonObjectOptions::default().set_indexing_options(text.clone()),
        );
        let schema = builder.build();
        let mut parse = Schema::builder();
        for (_, entry) in schema.fields() {
            parse.add_field(entry.clone());
        }
        let bare = parse.add_text_field(BARE, TextOptions::default().set_indexing_options(text));
        Fields {
            schema,
            seq,
            time,
            exact,
            message,
            details,
            ip_address,
            parse_schema: parse.build(),
            bare,
        }
    }

    /// The tantivy field of an exact field.
    pub fn exact(&self, field: ExactField) -> Field {
        self.exact[field as usize]
    }

    /// The document of `event`, stored at `seq`. Empty exact fields are left
    /// out, so "absent" is no term at all.
    pub fn document(&self, seq: u64, event: Event) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_u64(self.seq, seq);
        doc.add_i64(self.time, event.time.unwrap_or_default());
        for field in ExactField::ALL {
            let value = field.value(&event);
            if value.is_empty() {
                continue;
            }
            if field.packs_terms() {
                doc.add_text(self.exact(field), super::packed::term(value));
            } else {
                doc.add_text(self.exact(field), value);
            }
        }
        if let Some(term) = crate::query::network::address_term(&event.actor.ip) {
            doc.add_text(self.ip_address, term);
        }
        if !event.message.is_empty() {
            doc.add_text(self.message, &event.message);
        }
        if let Some(details) = event.details {
            // Read in place: tantivy takes a `serde_json::Value` as it
            // takes its own values, with the same conversions.
            doc.add_field_value(self.details, &serde_json::Value::Object(details));
        }
        doc
    }
}

impl serde::Serialize for ExactField {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ExactField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ExactField, D::Error> {
        let name = String::deserialize(d)?;
        ExactField::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown field `{name}`; exact fields are {}",
                ExactField::ALL.map(ExactField::name).join(", ")
            ))
        })
    }
}
