//! The value of an exact field for each document of one tantivy segment,
//! as a term ordinal, for counting by that field.
//!
//! Fields that aggregations commonly split by keep a dictionary-encoded
//! fast column, read directly. Fields whose values are nearly unique per
//! event (`request_id`, `correlation_id`) keep none: a column of unique
//! strings costs as much as their terms again, and nobody asks for the top
//! request ids. Counting by such a field inverts its postings instead: one
//! pass over all the field's terms when the collector starts on the
//! segment, whatever the query selects. It gives the same answer and costs
//! 30 to 65 ms per hundred thousand documents (16-hex ids to UUIDs,
//! `docs/performance.md`).
//!
//! # Invariants
//! - Exact fields hold at most one value per document, so a document has at
//!   most one ordinal.
//! - Ordinals are positions in the sorted list of the segment's terms, in
//!   both forms; [`Values::names`] turns them back into values (the terms
//!   of fields without a column are [`super::packed`]; their order is not
//!   the values' order, which nothing here relies on).

use std::sync::Arc;

use tantivy::columnar::StrColumn;
use tantivy::schema::IndexRecordOption;
use tantivy::termdict::TermOrdinal;
use tantivy::{DocId, DocSet, InvertedIndexReader, SegmentReader, TERMINATED};

/// No value: the inverted form's mark for a document without the field.
const NONE: u32 = u32::MAX;

/// Per-document term ordinals of one exact field in one segment.
pub(crate) enum Values {
    /// From the field's fast column.
    Column(StrColumn),
    /// From its postings: `ords[doc]`, [`NONE`] when absent.
    Inverted {
        ords: Vec<u32>,
        index: Arc<InvertedIndexReader>,
    },
}

impl Values {
    /// The values of the field named `name` in `reader`: its fast column
    /// when it has one, else its postings inverted. `None` when the segment
    /// has no such field.
    pub fn of(reader: &SegmentReader, name: &str) -> tantivy::Result<Option<Values>> {
        let Ok(field) = reader.schema().get_field(name) else {
            return Ok(None);
        };
        if reader.schema().get_field_entry(field).is_fast() {
            return Ok(reader.fast_fields().str(name)?.map(Values::Column));
        }
        let index = reader.inverted_index(field)?;
        let mut ords = vec![NONE; reader.max_doc() as usize];
        let mut stream = index.terms().stream()?;
        while stream.advance() {
            let ord = u32::try_from(stream.term_ord()).map_err(|_| {
                tantivy::TantivyError::InvalidArgument(format!(
                    "field {name} has more than {NONE} values in one segment"
                ))
            })?;
            let mut postings =
                index.read_postings_from_terminfo(stream.value(), IndexRecordOption::Basic)?;
            let mut doc = postings.doc();
            while doc != TERMINATED {
                ords[doc as usize] = ord;
                doc = postings.advance();
            }
        }
        drop(stream);
        Ok(Some(Values::Inverted { ords, index }))
    }

    /// How many distinct values the segment holds.
    pub fn num_terms(&self) -> usize {
        match self {
            Values::Column(column) => column.num_terms(),
            Values::Inverted { index, .. } => index.terms().num_terms(),
        }
    }

    /// The ordinal of `doc`'s value, `None` when it has none.
    pub fn ord(&self, doc: DocId) -> Option<u64> {
        match self {
            Values::Column(column) => column.ords().first(doc),
            Values::Inverted { ords, .. } => {
                let ord = ords[doc as usize];
                (ord != NONE).then_some(u64::from(ord))
            }
        }
    }

    /// The values of the sorted ordinals `ords`, in one pass over the
    /// dictionary.
    pub fn names(&self, ords: &[u64]) -> Vec<String> {
        let mut names = Vec::with_capacity(ords.len());
        match self {
            Values::Column(column) => {
                let _ = column.dictionary().sorted_ords_to_term_cb(ords, |bytes| {
                    names.push(String::from_utf8_lossy(bytes).into_owned());
                });
            }
            Values::Inverted { index, .. } => {
                if let Ok(mut stream) = index.terms().stream() {
                    let mut wanted = ords.iter().peekable();
                    while let Some(&&next) = wanted.peek() {
                        if !stream.advance() {
                            break;
                        }
                        if stream.term_ord() == next as TermOrdinal {
                            names.push(super::packed::value(stream.key()));
                            wanted.next();
                        }
                    }
                }
            }
        }
        names.resize(ords.len(), String::new());
        names
    }
}
