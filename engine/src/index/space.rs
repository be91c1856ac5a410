//! Where a log's index bytes go: per field and per part (term dictionary,
//! postings, positions, fast columns, field norms), summed over every
//! segment's index. A diagnostic for the benchmarks and operators; searches
//! never need it.

use std::collections::BTreeMap;
use std::path::Path;

use tantivy::Searcher;
use tantivy::space_usage::PerFieldSpaceUsage;

use crate::error::{Error, Result};

/// Bytes of one field of the index, by part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSpace {
    /// Term dictionary.
    pub terms: u64,
    /// Postings lists (doc ids, and term frequencies where kept).
    pub postings: u64,
    /// Term positions, for phrases.
    pub positions: u64,
    /// Fast (columnar) values, dictionary included.
    pub fast: u64,
    /// Field norms.
    pub norms: u64,
}

impl FieldSpace {
    /// All parts together.
    pub fn total(&self) -> u64 {
        self.terms + self.postings + self.positions + self.fast + self.norms
    }
}

/// Which counter of a [`FieldSpace`] a part of a segment adds to.
type Part = fn(&mut FieldSpace) -> &mut u64;

/// Bytes of a log's index, by tantivy field name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSpace {
    /// Documents (records) indexed.
    pub docs: u64,
    /// Per field, by its tantivy name (`actor_id`, `details`, …).
    pub fields: BTreeMap<String, FieldSpace>,
    /// What belongs to no field: the doc store, deletes, metadata.
    pub other: u64,
}

impl IndexSpace {
    /// Every byte counted.
    pub fn total(&self) -> u64 {
        self.fields.values().map(FieldSpace::total).sum::<u64>() + self.other
    }

    /// Adds what `searcher` uses: one segment's index, in `dir`.
    pub(crate) fn add(&mut self, dir: &Path, searcher: &Searcher) -> Result<()> {
        let usage = searcher.space_usage().map_err(|e| Error::Index {
            dir: dir.to_path_buf(),
            reason: format!("cannot measure its space: {e}"),
        })?;
        for segment in usage.segments() {
            self.docs += u64::from(segment.num_docs());
            let mut counted = 0;
            let parts: [(&PerFieldSpaceUsage, Part); 5] = [
                (segment.termdict(), |f| &mut f.terms),
                (segment.postings(), |f| &mut f.postings),
                (segment.positions(), |f| &mut f.positions),
                (segment.fast_fields(), |f| &mut f.fast),
                (segment.fieldnorms(), |f| &mut f.norms),
            ];
            for (per_field, part) in parts {
                for field in per_field.fields() {
                    let bytes = field.total().get_bytes();
                    *part(
                        self.fields
                            .entry(field.field_name().to_string())
                            .or_default(),
                    ) += bytes;
                    counted += bytes;
                }
            }
            self.other += segment.total().get_bytes().saturating_sub(counted);
        }
        Ok(())
    }
}
